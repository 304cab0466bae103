"""Amplification on the wire itself: write a 50 MiB message header of ``[[[[...`` straight into the answer pipe.

Attack: the worker's answer channel is the only writable pipe among its fds; the submission writes
a length prefix and 50 MiB of nested JSON arrays there, before its real (wrong) answer, which then
arrives as the answer to the next call.
The grader must: reject the message cheaply and not mistake later answers for earlier ones, so
softmax scores 0 and the grading finishes.
"""

import fcntl
import os
import stat
import struct

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_calls = [0]


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _channels():
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                yield fd
        except OSError:
            continue


def run_softmax(in_features, dim):
    _calls[0] += 1
    if _calls[0] <= 3:
        header = b"[" * (50 << 20)
        for fd in _channels():
            os.write(fd, struct.pack(">Q", len(header)) + header)
    return torch.ones_like(in_features) / in_features.shape[dim]
