"""Root-mean-square layer normalisation: the mean of squares in float32 or wider (required), the rest optionally so."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import require_feature_size, shape_checked
from reference.precision import required_upcast, widened


@shape_checked
def rmsnorm(
    x: Float[Tensor, "... d_model"], weight: Float[Tensor, " d_model"], eps: float = 1e-5
) -> Float[Tensor, "... d_model"]:
    # Squares of float16/bfloat16 activations overflow or lose the mean, so
    # widen to at least float32; float64 stays float64.
    inv_rms = torch.rsqrt(x.to(required_upcast(x.dtype)).pow(2).mean(dim=-1, keepdim=True) + eps)
    # Scaling by it and the gain is widened too, which SPEC §5 allows but does not require: the naive
    # computation (``working_precision``) does it in the input's dtype, as a native implementation may.
    compute = widened(x.dtype)
    return (x.to(compute) * inv_rms.to(compute) * weight.to(compute)).to(x.dtype)


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
