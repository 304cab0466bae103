"""Subtracted the maximum in place (x -= x.max(...)), so softmax changes the caller's tensor.

The output is right, and so is every value the course's tests compare: only the input is left shifted,
and a training loop that reuses it (or autograd, for a leaf) breaks.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_softmax(in_features, dim):
    in_features -= in_features.amax(dim=dim, keepdim=True)
    exps = torch.exp(in_features)
    return exps / exps.sum(dim=dim, keepdim=True)
