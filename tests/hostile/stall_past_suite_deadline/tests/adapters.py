"""Deadline stalling: answer each call just under call_seconds until the suite deadline has passed.

Attack: softmax is a uniform distribution (it passes the rubric's laws, never the golden values).
The first check gets quick answers and passes; then every call takes 4 s (under the 5 s call limit)
until 46 s after the worker started (the zoo rubric's suite_seconds is 40), so the suite is stopped
before the golden checks run. The points of a problem whose checks did not all run must not count.
The grader must: report the deadline (a suite problem is the documented outcome here) and give
softmax 0: "every check passed" means every check of the problem ran and passed.
"""

import time

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
SUITE_PROBLEM_OK = True
STARTED = time.monotonic()
_calls = [0]


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    _calls[0] += 1
    if _calls[0] > 20:
        time.sleep(max(0.0, min(4.0, 46 - (time.monotonic() - STARTED))))
    return torch.ones_like(in_features) / in_features.shape[dim]
