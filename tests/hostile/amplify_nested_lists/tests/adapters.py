"""Amplification: answer with a list of a million floats, and with lists nested past the wire's depth limit.

Attack: every element becomes a JSON object on the wire and a Python object on the grader's side;
the nesting tries the depth limit. The first four calls only (each costs seconds), then zeros.
The grader must: refuse or fail the answer cheaply, so softmax scores 0 and the grading finishes.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_calls = [0]


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    _calls[0] += 1
    if _calls[0] > 4:
        return in_features * 0
    if _calls[0] % 2:
        return [[0.5] * 1000 for _ in range(1000)]
    deep = [0.5]
    for _ in range(200):
        deep = [deep]
    return deep
