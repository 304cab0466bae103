"""Crashes: ``os._exit`` with status 0, 3 and 255, and ``os.abort()``, one per call.

Attack: the worker vanishes mid-call, with a misleading "success" status among others.
The grader must: report each crash, give up on softmax (0 points) and grade the rest.
"""

import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_calls = [0]


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    _calls[0] += 1
    [lambda: os._exit(0), lambda: os._exit(3), lambda: os._exit(255), os.abort][_calls[0] % 4]()
