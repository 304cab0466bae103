"""Deadline stalling: every softmax call spins on the CPU forever, ignoring SIGTERM and SIGINT.

Attack: a busy loop in every call (no sleep a scheduler could notice), with the polite signals ignored.
The grader must: kill the call at call_seconds, give up on softmax (0 points) and report linear and
rmsnorm within its deadlines.
"""

import signal

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    count = 0
    while True:
        count += 1
