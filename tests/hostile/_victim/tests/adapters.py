"""The honest neighbour of the batch attacks (not a case itself): every problem of the zoo's rubric, written plainly.

A batch case grades it next to the attacker; its score (3 of 3) and its files must come out untouched.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1, "softmax": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
    return exps / exps.sum(dim, keepdim=True)
