"""Pre-norm Transformer block: ``y = x + MHA(RMSNorm₁(x))``, ``z = y + SwiGLU(RMSNorm₂(y))``."""

from __future__ import annotations

import torch
from jaxtyping import Float, Integer
from torch import Tensor, nn

from reference.checks import shape_checked
from reference.config import TransformerConfig
from reference.multihead_attention import CausalMultiHeadSelfAttention
from reference.rmsnorm import RMSNorm
from reference.swiglu import SwiGLU


class TransformerBlock(nn.Module):
    def __init__(
        self,
        config: TransformerConfig,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.ln1 = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.attn = CausalMultiHeadSelfAttention(config, **factory)
        self.ln2 = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.ffn = SwiGLU(config.d_model, config.d_ff, **factory)

    @shape_checked
    def forward(
        self,
        x: Float[Tensor, "*#batch seq d_model"],
        token_positions: Integer[Tensor, "*#batch seq"] | None = None,
    ) -> Float[Tensor, "*#batch seq d_model"]:
        y = x + self.attn(self.ln1(x), token_positions)
        return y + self.ffn(self.ln2(y))
