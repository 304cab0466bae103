"""Scaled dot-product attention ``softmax(QKᵀ/√d_k + M) V``."""

from __future__ import annotations

import math

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from reference.checks import shape_checked
from reference.softmax import softmax


@shape_checked
def scaled_dot_product_attention(
    Q: Float[Tensor, "*#batch n d_k"],
    K: Float[Tensor, "*#batch m d_k"],
    V: Float[Tensor, "*#batch m d_v"],
    mask: Bool[Tensor, "*#batch n m"] | None = None,
) -> Float[Tensor, "*#batch n d_v"]:
    """``mask`` is True where a query may attend a key; ``None`` means no masking at all.

    Leading dimensions broadcast, which lets grouped-query attention share one
    k/v head across a group of query heads without copying it.
    """
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ V


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Bool[Tensor, "seq seq"]:
    """True on and below the diagonal: query ``i`` may attend keys ``j ≤ i``."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
