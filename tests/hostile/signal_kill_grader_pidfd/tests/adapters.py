"""Signals to others: SIGKILL the grader itself (the ancestor with ``--out`` on its command line) through a pidfd.

Attack: walk the parent chain in /proc, find the grader, ``pidfd_send_signal(SIGKILL)`` (no audit
event). No grader, no report: a batch would lose every student after this one.
The grader must: be out of the submission's reach, so it exits 0 with a complete report.
"""

import os
import signal

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"--out" in handle.read().split(b"\0"):
                signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)
                break
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])
    return torch.ones_like(in_features) / in_features.shape[dim]
