"""Sinusoidal absolute position encoding (Vaswani et al., 2017)."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from reference.checks import Int32Or64, shape_checked


@shape_checked
def sinusoidal_positions(
    token_positions: Int32Or64[Tensor, "*batch seq"], d_model: int, base: float = 10000.0
) -> Float[Tensor, "*batch seq d_model"]:
    """``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(p / base^(2i/d))``, in float64.

    Callers cast to their activations' dtype; computing in float64 keeps
    large positions exact to the last bit of float32.
    """
    if d_model % 2:
        raise ValueError(f"sinusoidal_positions: d_model must be even, got {d_model}")
    if not base > 0:
        raise ValueError(f"sinusoidal_positions: base must be > 0, got {base!r}")
    exponents = torch.arange(0, d_model, 2, dtype=torch.float64, device=token_positions.device) / d_model
    angles = token_positions.to(torch.float64)[..., None] * float(base) ** -exponents
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
