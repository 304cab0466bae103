"""SiLU and the SwiGLU feed-forward network ``W2 (SiLU(W1 x) ⊙ W3 x)``."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import require_feature_size, shape_checked
from reference.linear import Linear, linear


@shape_checked
def silu(x: Float[Tensor, "..."]) -> Float[Tensor, "..."]:
    return x * torch.sigmoid(x)


@shape_checked
def swiglu(
    x: Float[Tensor, "... d_model"],
    w1: Float[Tensor, "d_ff d_model"],
    w2: Float[Tensor, "d_model d_ff"],
    w3: Float[Tensor, "d_ff d_model"],
) -> Float[Tensor, "... d_model"]:
    return linear(silu(linear(x, w1)) * linear(x, w3), w2)


def conventional_d_ff(d_model: int, multiple_of: int = 64) -> int:
    """``8/3 · d_model`` rounded up to a multiple of ``multiple_of``: same parameters as a 4·d_model MLP."""
    return multiple_of * -(-8 * d_model // (3 * multiple_of))


class SwiGLU(nn.Module):
    def __init__(
        self,
        d_model: int,
        d_ff: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.w1 = Linear(d_model, d_ff, device=device, dtype=dtype)
        self.w2 = Linear(d_ff, d_model, device=device, dtype=dtype)
        self.w3 = Linear(d_model, d_ff, device=device, dtype=dtype)

    @shape_checked
    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        require_feature_size("SwiGLU", "x", x, self.w1.d_in, "d_model")
        return swiglu(x, self.w1.weight, self.w2.weight, self.w3.weight)
