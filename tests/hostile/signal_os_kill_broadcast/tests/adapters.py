"""Signals to others baseline: ``os.kill(-1, ...)`` and ``os.killpg`` of the parent's group.

Attack: a broadcast to every process the worker may signal. The zoo sends SIGWINCH (ignored by
default, so harmless on a shared machine) and the test's supervisor counts what reaches it.
The grader must: refuse it or contain it (today the audit hook denies both), so nothing arrives.
"""

import contextlib
import os
import signal

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


for _send in (lambda: os.kill(-1, signal.SIGWINCH), lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGWINCH)):
    with contextlib.suppress(Exception):
        _send()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
