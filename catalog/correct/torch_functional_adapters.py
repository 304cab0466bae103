"""torch.nn.functional kernels: F.linear/embedding/rms_norm/silu/softmax/scaled_dot_product_attention/cross_entropy.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``), the way a student leaning on
PyTorch's own kernels would write it: RMSNorm, softmax and cross-entropy run
in float32 (float64 stays float64) and cast back; attention is PyTorch's fused
kernel with an explicit boolean mask, or ``is_causal=True`` inside multi-head
attention; RoPE indexes a cos/sin table of positions ``0 … max_seq_len-1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor


def _upcast(x: Tensor) -> Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _like(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return F.linear(in_features, _like(weights, in_features))


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return F.embedding(token_ids.to(weights.device), weights)


def run_silu(in_features: Tensor) -> Tensor:
    return F.silu(in_features)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    return F.linear(F.silu(F.linear(x, _like(w1_weight, x))) * F.linear(x, _like(w3_weight, x)), _like(w2_weight, x))


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    wide = _upcast(in_features)
    return F.rms_norm(wide, (d_model,), _like(weights, wide), eps).to(in_features.dtype)


def _rope_table(d_k: int, theta: float, max_seq_len: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(max_seq_len, d_k/2)`` angles, as a module would precompute them once."""
    inverse_frequency = theta ** -(torch.arange(0, d_k, 2, dtype=dtype, device=device) / d_k)
    return torch.outer(torch.arange(max_seq_len, dtype=dtype, device=device), inverse_frequency)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    wide = _upcast(x)
    angles = _rope_table(d_k, theta, max_seq_len, wide.dtype, x.device)[token_positions.to(x.device).long()]
    cos, sin = angles.cos(), angles.sin()
    even, odd = wide[..., 0::2], wide[..., 1::2]
    out = torch.empty_like(wide.expand(*torch.broadcast_shapes(wide.shape[:-1], cos.shape[:-1]), d_k))
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out.to(x.dtype)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return F.softmax(_upcast(in_features), dim=dim).to(in_features.dtype)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)


def _split_heads(x: Tensor, num_heads: int) -> Tensor:
    return x.unflatten(-1, (num_heads, -1)).transpose(-3, -2)  # (..., heads, seq, d_head)


def _attention(
    num_heads: int,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    x: Tensor,
    rope: tuple[float, int, Tensor] | None,
) -> Tensor:
    q_proj, k_proj, v_proj, o_proj = (_like(w, x) for w in weights)
    q, k, v = (_split_heads(F.linear(x, w), num_heads) for w in (q_proj, k_proj, v_proj))
    if rope is not None:
        theta, max_seq_len, positions = rope
        head_positions = positions[..., None, :]  # broadcast over the head dimension
        q = run_rope(q.shape[-1], theta, max_seq_len, q, head_positions)
        k = run_rope(k.shape[-1], theta, max_seq_len, k, head_positions)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.linear(out.transpose(-3, -2).flatten(-2), o_proj)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    return _attention(num_heads, (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight), in_features, None)


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
    if token_positions is None:
        token_positions = torch.arange(in_features.shape[-2], device=in_features.device)
    weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _attention(num_heads, weights, in_features, (theta, max_seq_len, token_positions))


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    x = in_features
    positions = torch.arange(x.shape[-2], device=x.device)
    attention_weights = tuple(weights[f"attn.{p}.weight"] for p in ("q_proj", "k_proj", "v_proj", "output_proj"))
    x = x + _attention(
        num_heads,
        attention_weights,
        run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x),
        (theta, max_seq_len, positions),
    )
    ffn_weights = (weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"])
    return x + run_swiglu(d_model, d_ff, *ffn_weights, run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], x))


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
    x = F.embedding(in_indices.to(weights["token_embeddings.weight"].device), weights["token_embeddings.weight"])
    for i in range(num_layers):
        layer = {key[len(f"layers.{i}.") :]: w for key, w in weights.items() if key.startswith(f"layers.{i}.")}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, x)
    x = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    return F.linear(x, _like(weights["lm_head.weight"], x))


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    vocab = inputs.shape[-1]
    loss = F.cross_entropy(_upcast(inputs).reshape(-1, vocab), targets.to(inputs.device).long().reshape(-1))
    return loss.to(inputs.dtype)
