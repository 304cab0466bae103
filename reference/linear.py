"""Linear map ``y = x Wᵀ (+ b)`` with the course's truncated-normal initialisation."""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import require_feature_size, shape_checked


@shape_checked
def linear(
    x: Float[Tensor, "... d_in"],
    weight: Float[Tensor, "d_out d_in"],
    bias: Float[Tensor, " d_out"] | None = None,
) -> Float[Tensor, "... d_out"]:
    y = x @ weight.T
    return y if bias is None else y + bias


class Linear(nn.Module):
    """Weight stored ``(d_out, d_in)``; bias only for the q/k/v-bias variant (Qwen2)."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        bias: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.weight = nn.Parameter(torch.empty(d_out, d_in, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(d_out, device=device, dtype=dtype)) if bias else None
        std = math.sqrt(2.0 / (d_in + d_out))
        nn.init.trunc_normal_(self.weight, mean=0.0, std=std, a=-3 * std, b=3 * std)

    @shape_checked
    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        require_feature_size("Linear", "x", x, self.d_in, "d_in")
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, bias={self.bias is not None}"
