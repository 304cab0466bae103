"""The SPEC §4 adapter protocol implemented on the reference: the course's ``tests/adapters.py``.

Every function takes weights as given by the caller and casts them to the
input's dtype and device, so a float16 input yields a float16 output.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from reference.config import TransformerConfig
from reference.cross_entropy import cross_entropy
from reference.embedding import embedding
from reference.linear import linear
from reference.multihead_self_attention import multihead_self_attention
from reference.rmsnorm import rmsnorm
from reference.rope import RotaryPositionalEmbedding
from reference.scaled_dot_product_attention import scaled_dot_product_attention
from reference.softmax import softmax
from reference.swiglu import silu, swiglu
from reference.transformer_block import transformer_block
from reference.transformer_lm import transformer_lm


def _like(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def _config(
    d_model: int, num_heads: int, context_length: int, rope_theta: float | None, **sizes: int
) -> TransformerConfig:
    """The course configuration; parts a function does not use (vocabulary, depth, FFN) get the smallest valid size."""
    return TransformerConfig(
        d_model=d_model,
        num_heads=num_heads,
        context_length=context_length,
        rope_theta=10000.0 if rope_theta is None else rope_theta,
        position_encoding="none" if rope_theta is None else "rope",
        **({"vocab_size": 1, "num_layers": 1, "d_ff": 1} | sizes),
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


def _projections(q: Tensor, k: Tensor, v: Tensor, o: Tensor) -> dict[str, Tensor]:
    return {"q_proj.weight": q, "k_proj.weight": k, "v_proj.weight": v, "output_proj.weight": o}


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    config = _config(d_model, num_heads, in_features.shape[-2], rope_theta=None)
    weights = _projections(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return multihead_self_attention(in_features, weights, config)


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
    config = _config(d_model, num_heads, max_seq_len, rope_theta=theta)
    weights = _projections(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    positions = None if token_positions is None else token_positions.to(in_features.device)
    return multihead_self_attention(in_features, weights, config, positions)


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    config = _config(d_model, num_heads, max_seq_len, rope_theta=theta, d_ff=d_ff)
    return transformer_block(in_features, weights, config)


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
    config = _config(
        d_model, num_heads, context_length, rope_theta, vocab_size=vocab_size, num_layers=num_layers, d_ff=d_ff
    )
    return transformer_lm(in_indices, weights, config)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    return cross_entropy(inputs, targets.to(inputs.device))
