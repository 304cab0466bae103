"""Root-mean-square layer normalisation, computed in float32 or wider."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import require_feature_size, shape_checked
from reference.precision import required_upcast


@shape_checked
def rmsnorm(
    x: Float[Tensor, "... d_model"], weight: Float[Tensor, " d_model"], eps: float = 1e-5
) -> Float[Tensor, "... d_model"]:
    # Squares of float16/bfloat16 activations overflow or lose the mean, so
    # widen to at least float32; float64 stays float64.
    compute = required_upcast(x.dtype)
    x_wide = x.to(compute)
    inv_rms = torch.rsqrt(x_wide.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (x_wide * inv_rms * weight.to(compute)).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(
        self,
        d_model: int,
        eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))

    @shape_checked
    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        require_feature_size("RMSNorm", "x", x, self.d_model, "d_model")
        return rmsnorm(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, eps={self.eps}"
