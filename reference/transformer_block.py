"""Pre-norm Transformer block: ``y = x + MHA(RMSNorm₁(x))``, ``z = y + SwiGLU(RMSNorm₂(y))``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import Int32Or64, require_feature_size, shape_checked
from reference.config import TransformerConfig
from reference.multihead_self_attention import CausalMultiHeadSelfAttention
from reference.rmsnorm import RMSNorm
from reference.rope import RotaryPositionalEmbedding
from reference.state_dict import from_weights
from reference.swiglu import SwiGLU


class TransformerBlock(nn.Module):
    def __init__(
        self,
        config: TransformerConfig,
        rope: RotaryPositionalEmbedding | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.ln1 = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.attn = CausalMultiHeadSelfAttention(config, rope=rope, **factory)
        self.ln2 = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.ffn = SwiGLU(config.d_model, config.d_ff, **factory)

    @shape_checked
    def forward(
        self,
        x: Float[Tensor, "*#batch seq d_model"],
        token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
    ) -> Float[Tensor, "*#batch seq d_model"]:
        require_feature_size("TransformerBlock", "x", x, self.ln1.d_model, "d_model")
        y = x + self.attn(self.ln1(x), token_positions)
        return y + self.ffn(self.ln2(y))


@shape_checked
def transformer_block(
    x: Float[Tensor, "*#batch seq d_model"],
    weights: Mapping[str, Tensor],
    config: TransformerConfig,
    token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
) -> Float[Tensor, "*#batch seq d_model"]:
    """Function form: ``weights`` are one layer's state dict (``attn.q_proj.weight``, ``ln1.weight``, ...)."""
    return from_weights(TransformerBlock, config, weights, x.device, x.dtype)(x, token_positions)
