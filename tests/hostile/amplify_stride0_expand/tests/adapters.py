"""Amplification: a stride-0 view, ``torch.zeros(()).expand(2**20, 2**20)``: 4 bytes sent, 2**40 elements claimed.

Attack: the wire sends only the storage a tensor covers; whoever materialises the answer (a
``.contiguous()``, a ``.to(float64)``, a comparison) allocates 8 TiB.
The grader must: judge it without materialising it (a shape check comes first), so softmax scores 0
and the grading finishes normally.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.zeros((), dtype=in_features.dtype).expand(1 << 20, 1 << 20)
