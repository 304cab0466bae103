"""Amplification: answer the first calls with a 256 MiB string.

Attack: the string crosses the wire inside the JSON header, is decoded by the checks' process and,
if anything prints or reprs it (an assertion message, a report), is copied again and again.
The grader must: cap or refuse it, so softmax scores 0 and the reports stay small.
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
    if _calls[0] <= 3:
        return "x" * (256 << 20)
    return torch.ones_like(in_features) / in_features.shape[dim]
