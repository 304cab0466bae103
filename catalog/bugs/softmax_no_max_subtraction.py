"""Exponentiated the raw scores without subtracting the maximum first.

exp(1000) overflows to inf and inf / inf is NaN; float16 overflows from about 11.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_softmax(in_features, dim):
    exps = torch.exp(in_features)
    return exps / exps.sum(dim=dim, keepdim=True)
