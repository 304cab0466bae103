"""Normalised in place (exps /= exps.sum(...)), overwriting the exp output autograd saved for backward.

The forward is right; backward raises "one of the variables needed for gradient computation has been
modified by an inplace operation".
"""

import torch

from reference.adapters import *  # noqa: F403


def run_softmax(in_features, dim):
    exps = torch.exp(in_features - in_features.amax(dim=dim, keepdim=True))
    exps /= exps.sum(dim=dim, keepdim=True)
    return exps
