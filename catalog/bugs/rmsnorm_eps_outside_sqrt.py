"""Added eps to the root mean square instead of the mean square: x / (sqrt(mean(x²)) + eps)."""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.float()
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True)) + eps
    return (x / rms * weights.float()).to(in_features.dtype)
