"""The SPEC §4 adapter protocol implemented on the reference: the course's ``tests/adapters.py``.

Every function takes weights as given by the caller and casts them to the
input's dtype and device, so a float16 input yields a float16 output.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from reference.attention import scaled_dot_product_attention
from reference.block import TransformerBlock
from reference.config import TransformerConfig
from reference.cross_entropy import cross_entropy
from reference.embedding import embedding
from reference.linear import linear
from reference.multihead_attention import CausalMultiHeadSelfAttention
from reference.rmsnorm import rmsnorm
from reference.rope import RotaryPositionalEmbedding
from reference.softmax import softmax
from reference.state_dict import load_weights
from reference.swiglu import silu, swiglu
from reference.transformer_lm import TransformerLM


def _like(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def _weights_to(weights: Mapping[str, Tensor], device: torch.device, dtype: torch.dtype) -> dict[str, Tensor]:
    return {key: value.to(device=device, dtype=dtype) for key, value in weights.items()}


def _attention_config(d_model: int, num_heads: int, max_seq_len: int, theta: float | None) -> TransformerConfig:
    # MHA alone needs no vocabulary, depth or FFN; fill them with the smallest valid sizes.
    return TransformerConfig(
        vocab_size=1,
        context_length=max_seq_len,
        d_model=d_model,
        num_layers=1,
        num_heads=num_heads,
        d_ff=1,
        rope_theta=10000.0 if theta is None else theta,
        position_encoding="none" if theta is None else "rope",
    )


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return linear(in_features, _like(weights, in_features))


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return embedding(token_ids.to(weights.device), weights)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    return swiglu(
        in_features, _like(w1_weight, in_features), _like(w2_weight, in_features), _like(w3_weight, in_features)
    )


def run_silu(in_features: Tensor) -> Tensor:
    return silu(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return rmsnorm(in_features, _like(weights, in_features), eps)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    rotary = RotaryPositionalEmbedding(theta, d_k, max_seq_len, device=in_query_or_key.device)
    return rotary(in_query_or_key, token_positions.to(in_query_or_key.device))


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return softmax(in_features, dim=dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return scaled_dot_product_attention(Q, K, V, mask)


def _multihead(
    config: TransformerConfig,
    projections: tuple[Tensor, Tensor, Tensor, Tensor],
    in_features: Tensor,
    token_positions: Tensor | None,
) -> Tensor:
    attention = CausalMultiHeadSelfAttention(config, device=in_features.device, dtype=in_features.dtype)
    names = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "output_proj.weight")
    load_weights(
        attention, _weights_to(dict(zip(names, projections, strict=True)), in_features.device, in_features.dtype)
    )
    return attention(in_features, token_positions)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    config = _attention_config(d_model, num_heads, in_features.shape[-2], theta=None)
    projections = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _multihead(config, projections, in_features, None)


def run_multihead_self_attention_with_rope(
    d_model: int,
    num_heads: int,
    max_seq_len: int,
    theta: float,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
    token_positions: Tensor | None = None,
) -> Tensor:
    config = _attention_config(d_model, num_heads, max_seq_len, theta=theta)
    projections = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    positions = None if token_positions is None else token_positions.to(in_features.device)
    return _multihead(config, projections, in_features, positions)


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    config = TransformerConfig(
        vocab_size=1,
        context_length=max_seq_len,
        d_model=d_model,
        num_layers=1,
        num_heads=num_heads,
        d_ff=d_ff,
        rope_theta=theta,
    )
    block = TransformerBlock(config, device=in_features.device, dtype=in_features.dtype)
    load_weights(block, _weights_to(weights, in_features.device, in_features.dtype))
    return block(in_features)


def run_transformer_lm(
    vocab_size: int,
    context_length: int,
    d_model: int,
    num_layers: int,
    num_heads: int,
    d_ff: int,
    rope_theta: float,
    weights: Mapping[str, Tensor],
    in_indices: Tensor,
) -> Tensor:
    config = TransformerConfig(
        vocab_size=vocab_size,
        context_length=context_length,
        d_model=d_model,
        num_layers=num_layers,
        num_heads=num_heads,
        d_ff=d_ff,
        rope_theta=rope_theta,
    )
    # The token ids carry no float dtype; the weights decide the logits' dtype.
    dtype = next(iter(weights.values())).dtype
    model = TransformerLM(config, device=in_indices.device, dtype=dtype)
    load_weights(model, _weights_to(weights, in_indices.device, dtype))
    return model(in_indices)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    return cross_entropy(inputs, targets.to(inputs.device))
