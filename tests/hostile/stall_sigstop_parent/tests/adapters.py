"""Deadline stalling: a check that never reports: SIGSTOP the pytest child through a pidfd.

Attack: the checks' process is stopped mid-check; it never writes another record nor exits, and the
grader reads its records without a deadline of its own while no line arrives.
The grader must: not be stoppable by the submission (or enforce the suite deadline without lines),
so it finishes and reports, softmax 0.
"""

import os
import signal

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
SUITE_PROBLEM_OK = True


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as handle:
        if b"pytest" in handle.read():
            signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGSTOP)
    return torch.ones_like(in_features) / in_features.shape[dim]
