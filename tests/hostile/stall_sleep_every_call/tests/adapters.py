"""Deadline stalling: every softmax call sleeps for an hour.

Attack: hold the grader hostage: one call at a time, forever.
The grader must: stop each call at call_seconds, give up on softmax (0 points) and still grade and
report linear and rmsnorm within its deadlines.
"""

import time

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    time.sleep(3600)
    return torch.ones_like(in_features) / in_features.shape[dim]
