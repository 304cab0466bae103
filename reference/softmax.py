"""Numerically stable softmax, and sampling temperature."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from reference.checks import shape_checked
from reference.precision import widened


@shape_checked
def softmax(x: Float[Tensor, "..."], dim: int = -1) -> Float[Tensor, "..."]:
    """``exp(x - max) / Σ exp(x - max)`` along ``dim``, computed in float32 or wider.

    Subtracting the maximum keeps ``exp`` finite for inputs like ``x + 1000``;
    ``-inf`` entries get probability exactly 0.
    """
    compute = widened(x.dtype)
    x_wide = x.to(compute)
    shifted = x_wide - x_wide.amax(dim=dim, keepdim=True)
    exps = shifted.exp()
    return (exps / exps.sum(dim=dim, keepdim=True)).to(x.dtype)


@shape_checked
def softmax_with_temperature(logits: Float[Tensor, "..."], temperature: float, dim: int = -1) -> Float[Tensor, "..."]:
    """``p_T ∝ p^(1/T)``: T = 1 is plain softmax, T → 0 approaches argmax, T → ∞ uniform."""
    if not temperature > 0:
        raise ValueError(f"softmax_with_temperature: temperature must be > 0, got {temperature!r}")
    # Divide in float32 or wider: float16 logits / 1e-3 would overflow to inf, and inf - inf is NaN.
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return softmax(wide / temperature, dim=dim).to(logits.dtype)
