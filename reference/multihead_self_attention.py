"""Causal multi-head self-attention with the LLaMA/Qwen variants as configuration.

Variants (all from ``TransformerConfig``): grouped-query attention
(``num_kv_heads``), q/k/v bias (Qwen2), per-head q/k RMSNorm before RoPE
(Qwen3), ``head_dim`` decoupled from ``d_model / num_heads``, RoPE in either
layout or no RoPE at all.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import InputError, Int32Or64, checks_enabled, require_feature_size, shape_checked
from reference.config import TransformerConfig
from reference.linear import Linear
from reference.rmsnorm import RMSNorm
from reference.rope import RotaryPositionalEmbedding
from reference.scaled_dot_product_attention import causal_mask, scaled_dot_product_attention
from reference.state_dict import from_weights


def group_query_heads(q: Float[Tensor, "... heads seq d"], kv_heads: int) -> Float[Tensor, "... kv_heads group seq d"]:
    """Split query heads into ``kv_heads`` groups; query head ``j`` joins group ``j // (heads / kv_heads)``.

    Attention then broadcasts each k/v head over its group (a view, no copy),
    which is what ``repeat_kv`` in HF LLaMA computes by copying.
    """
    return q.unflatten(-3, (kv_heads, -1))


def rotary_embedding(config: TransformerConfig, device: torch.device | str | None = None) -> RotaryPositionalEmbedding:
    return RotaryPositionalEmbedding(
        config.rope_theta, config.d_head, config.context_length, layout=config.rope_layout, device=device
    )


class CausalMultiHeadSelfAttention(nn.Module):
    def __init__(
        self,
        config: TransformerConfig,
        rope: RotaryPositionalEmbedding | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """``rope`` lets a model share one cos/sin cache across its layers; by default each builds its own."""
        super().__init__()
        self.num_heads, self.kv_heads, self.d_head = config.num_heads, config.kv_heads, config.d_head
        d_model, bias = config.d_model, config.qkv_bias
        factory = {"device": device, "dtype": dtype}
        self.q_proj = Linear(d_model, self.num_heads * self.d_head, bias=bias, **factory)
        self.k_proj = Linear(d_model, self.kv_heads * self.d_head, bias=bias, **factory)
        self.v_proj = Linear(d_model, self.kv_heads * self.d_head, bias=bias, **factory)
        self.output_proj = Linear(self.num_heads * self.d_head, d_model, **factory)
        if config.qk_norm:
            self.q_norm = RMSNorm(self.d_head, eps=config.norm_eps, **factory)
            self.k_norm = RMSNorm(self.d_head, eps=config.norm_eps, **factory)
        else:
            self.q_norm = self.k_norm = None
        if config.position_encoding == "rope" and rope is None:
            rope = rotary_embedding(config, device=device)
        self.rope = rope if config.position_encoding == "rope" else None

    @shape_checked
    def forward(
        self,
        x: Float[Tensor, "*#batch seq d_model"],
        token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
    ) -> Float[Tensor, "*#batch seq d_model"]:
        """``token_positions=None`` means positions ``0 … seq-1``; they apply to every head alike."""
        require_feature_size("CausalMultiHeadSelfAttention", "x", x, self.q_proj.d_in, "d_model")
        seq = x.shape[-2]
        q = rearrange(self.q_proj(x), "... seq (heads d) -> ... heads seq d", d=self.d_head)
        k = rearrange(self.k_proj(x), "... seq (heads d) -> ... heads seq d", d=self.d_head)
        v = rearrange(self.v_proj(x), "... seq (heads d) -> ... heads seq d", d=self.d_head)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None:
            if token_positions is None:
                if checks_enabled() and seq > self.rope.max_seq_len:
                    raise InputError(
                        f"CausalMultiHeadSelfAttention: x has {seq} positions, more than max_seq_len "
                        f"{self.rope.max_seq_len} of its RoPE cache"
                    )
                token_positions = torch.arange(seq, device=x.device)
            per_head = token_positions.unsqueeze(-2)
            q, k = self.rope(q, per_head), self.rope(k, per_head)
        q = group_query_heads(q, self.kv_heads)
        k, v = k.unsqueeze(-3), v.unsqueeze(-3)
        out = scaled_dot_product_attention(q, k, v, causal_mask(seq, device=x.device))
        out = rearrange(out, "... kv_heads group seq d -> ... seq (kv_heads group d)")
        return self.output_proj(out)


@shape_checked
def multihead_self_attention(
    x: Float[Tensor, "*#batch seq d_model"],
    weights: Mapping[str, Tensor],
    config: TransformerConfig,
    token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
) -> Float[Tensor, "*#batch seq d_model"]:
    """Function form: ``weights`` are the module's state dict (``q_proj.weight``, ...), cast to x's dtype."""
    return from_weights(CausalMultiHeadSelfAttention, config, weights, x.device, x.dtype)(x, token_positions)
