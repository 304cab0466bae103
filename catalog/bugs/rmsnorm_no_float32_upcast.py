"""Computed the mean of squares in the input's own dtype.

Float16 squares of activations above 256 overflow to inf, and the output collapses to 0.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    rms = torch.sqrt(in_features.pow(2).mean(dim=-1, keepdim=True) + eps)
    return in_features / rms * weights.to(in_features.dtype)
