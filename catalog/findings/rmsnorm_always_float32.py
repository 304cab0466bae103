"""Computed in float32 as the handout says, even for a float64 input, then cast back.

Float64 inputs lose precision, and squares beyond float32's range overflow.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.to(torch.float32)
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (x / rms * weights.to(torch.float32)).to(in_features.dtype)
