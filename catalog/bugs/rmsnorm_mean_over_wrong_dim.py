"""Averaged the squares over the first dimension (the batch) instead of the last (the features).

Right only for an input with no leading dimensions.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.float()
    rms = torch.sqrt(x.pow(2).mean(dim=0, keepdim=True) + eps)
    return (x / rms * weights.float()).to(in_features.dtype)
