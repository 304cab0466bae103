"""Crashes: a segfault through ctypes, ``ctypes.string_at(0)``.

Attack: a read of address 0 (the audit hook allows ``ctypes.string_at``).
The grader must: report the crash, give up on softmax (0 points) and grade the rest.
"""

import ctypes

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return ctypes.string_at(0, 16)
