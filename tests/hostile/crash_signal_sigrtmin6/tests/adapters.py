"""Crashes: the worker kills itself with a real-time signal, ``signal.raise_signal(SIGRTMIN + 6)``.

Attack: the worker dies of signal 40, which is not a member of ``signal.Signals``: naming it in the
crash report raises, and a crash that is not recognised as one is retried with a new worker each
time. The import takes a second, so retrying every call costs more than the suite deadline.
The grader must: report the crash, give up on softmax after it (0 points) and grade the rest within
its deadlines (no suite problem).
"""

import signal
import time

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
time.sleep(1.0)


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    signal.raise_signal(signal.SIGRTMIN + 6)
