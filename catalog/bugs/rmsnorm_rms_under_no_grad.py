"""Computed the RMS under torch.no_grad() ("it is only a statistic"), so RMSNorm's gradient misses a term.

The forward is exact; the gradient treats 1/rms as a constant, so it is no longer orthogonal to x.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.to(torch.float32)
    with torch.no_grad():
        inverse_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (x * inverse_rms * weights.to(torch.float32)).to(in_features.dtype)
