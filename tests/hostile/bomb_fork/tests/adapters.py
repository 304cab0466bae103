"""Amplification, fork bomb (probe, bounded): start 256 processes from the worker.

Attack: 256 ``sleep 20`` started with ``_posixsubprocess.fork_exec`` (no audit event, vfork), 64 a
call, in the worker's process group (the bomb is bounded so the zoo never takes a machine down).
Probe: once all 256 are running softmax answers honestly, so a score on softmax means no process
limit held.
The grader must: cap the number of processes (a pids cgroup), so softmax scores 0 and none remain.
"""

import _posixsubprocess
import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_started = [0]


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _bomb(count):
    started = 0
    for _ in range(count):
        read, write = os.pipe()
        try:
            _posixsubprocess.fork_exec(
                ["sleep", "20"], [b"/bin/sleep", b"/usr/bin/sleep"], True, (), None, None,
                -1, -1, -1, -1, -1, -1, read, write, False, False, -1, None, None, None, -1, None, True,
            )  # fmt: skip
            started += 1
        except OSError:
            break
        finally:
            os.close(read)
            os.close(write)
    return started


def run_softmax(in_features, dim):
    if _started[0] < 256:
        _started[0] += _bomb(64)
    if _started[0] >= 256:
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
