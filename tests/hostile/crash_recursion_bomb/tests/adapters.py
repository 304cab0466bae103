"""Crashes: unbounded recursion with the recursion limit lifted: the C stack overflows (a segfault).

Attack: ``sys.setrecursionlimit(10**7)`` then a function that calls itself.
The grader must: report the crash, give up on softmax (0 points) and grade the rest.
"""

import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _deeper(depth):
    return _deeper(depth + 1) + 1


def run_softmax(in_features, dim):
    sys.setrecursionlimit(10**7)
    return _deeper(0)
