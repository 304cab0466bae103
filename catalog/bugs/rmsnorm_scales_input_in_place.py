"""Upcast with x = in_features.to(torch.float32), then normalised with x.mul_(...): for float32 input, .to()
returns the caller's own tensor, which is scaled in place.

The output is right; a float32 input the caller passed is normalised too.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rmsnorm(d_model, eps, weights, in_features):
    x = in_features.to(torch.float32)
    x.mul_(torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))
    return (x * weights.to(torch.float32)).to(in_features.dtype)
