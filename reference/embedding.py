"""Token embedding: row lookup by integer id."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import Int32Or64, require_index_range, shape_checked


@shape_checked
def embedding(
    token_ids: Int32Or64[Tensor, "..."], weight: Float[Tensor, "vocab d_model"]
) -> Float[Tensor, "... d_model"]:
    require_index_range("embedding", "token_ids", token_ids, weight.shape[0], "the vocabulary size")
    return weight[token_ids]


class Embedding(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model, device=device, dtype=dtype))
        nn.init.trunc_normal_(self.weight, mean=0.0, std=1.0, a=-3.0, b=3.0)

    @shape_checked
    def forward(self, token_ids: Int32Or64[Tensor, "..."]) -> Float[Tensor, "... d_model"]:
        return embedding(token_ids, self.weight)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, d_model={self.d_model}"
