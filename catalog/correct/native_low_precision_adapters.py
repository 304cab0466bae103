"""Native low precision: everything in the input's own dtype except RMSNorm's mean of squares and RoPE's angles.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) that spends exactly the precision
SPEC §5 demands and no more, as a mixed-precision training codebase does:
float16/bfloat16 linear layers, SiLU, softmax, attention and cross-entropy run
natively in that dtype (weights cast to it); RMSNorm takes the mean of squares
in float32 (``x.float().square().mean``), forms ``rsqrt`` there, and scales
``x`` in its own dtype; RoPE computes the angles ``p · Θ^(-2k/d)`` in float32
(float64 for float64 input), rounds cos/sin to the input dtype and rotates
natively. float64 stays float64 throughout. Attention masks with
``torch.where(mask, scores, -inf)``; cross-entropy is the shifted form
``log Σ exp(x - max) - (x_t - max)`` so no large logit is ever rounded.
Plain functions, no modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor


def _in(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def _at_least_float32(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return torch.matmul(in_features, _in(weights, in_features).mT)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return torch.index_select(weights, 0, token_ids.reshape(-1).to(weights.device)).reshape(*token_ids.shape, d_model)


def run_silu(in_features: Tensor) -> Tensor:
    return in_features * torch.sigmoid(in_features)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    hidden = run_silu(run_linear(d_model, d_ff, w1_weight, x)) * run_linear(d_model, d_ff, w3_weight, x)
    return run_linear(d_ff, d_model, w2_weight, hidden)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    x = in_features
    mean_square = x.to(_at_least_float32(x.dtype)).square().mean(dim=-1, keepdim=True)  # the required upcast
    inverse_rms = torch.rsqrt(mean_square + eps).to(x.dtype)
    return x * inverse_rms * _in(weights, x)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    angle_dtype = _at_least_float32(x.dtype)
    exponents = torch.arange(0, d_k, 2, device=x.device, dtype=angle_dtype) / d_k
    inverse_frequency = torch.pow(torch.tensor(float(theta), dtype=angle_dtype, device=x.device), -exponents)
    angles = token_positions.to(device=x.device, dtype=angle_dtype).unsqueeze(-1) * inverse_frequency
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.empty(torch.broadcast_shapes(x.shape, (*cos.shape[:-1], d_k)), dtype=x.dtype, device=x.device)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    z = in_features - in_features.amax(dim=dim, keepdim=True)
    numerator = z.exp()
    return numerator / numerator.sum(dim=dim, keepdim=True)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    scores = torch.matmul(Q, K.mT) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = torch.where(mask.to(scores.device), scores, -math.inf)
    return torch.matmul(run_softmax(scores, -1), V)


def _heads(t: Tensor, num_heads: int) -> Tensor:
    return t.unflatten(-1, (num_heads, t.shape[-1] // num_heads)).movedim(-2, -3)


def _mha(
    x: Tensor,
    num_heads: int,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    rope: tuple[float, int, Tensor] | None,
) -> Tensor:
    w_q, w_k, w_v, w_o = weights
    d_model, seq = x.shape[-1], x.shape[-2]
    q = _heads(run_linear(d_model, d_model, w_q, x), num_heads)
    k = _heads(run_linear(d_model, d_model, w_k, x), num_heads)
    v = _heads(run_linear(d_model, d_model, w_v, x), num_heads)
    if rope is not None:
        theta, max_seq_len, positions = rope
        positions = positions.unsqueeze(-2)  # (..., 1, seq): every head the same
        q = run_rope(q.shape[-1], theta, max_seq_len, q, positions)
        k = run_rope(k.shape[-1], theta, max_seq_len, k, positions)
    causal = torch.arange(seq, device=x.device)[:, None] >= torch.arange(seq, device=x.device)[None, :]
    heads_out = run_scaled_dot_product_attention(q, k, v, causal)
    return run_linear(d_model, d_model, w_o, heads_out.movedim(-3, -2).flatten(-2))


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _mha(in_features, num_heads, weights, None)


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
    x = in_features
    positions = torch.arange(x.shape[-2], device=x.device) if token_positions is None else token_positions
    weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _mha(x, num_heads, weights, (theta, max_seq_len, positions.to(x.device)))


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
    attention = tuple(weights[f"attn.{name}.weight"] for name in ("q_proj", "k_proj", "v_proj", "output_proj"))
    positions = torch.arange(x.shape[-2], device=x.device)
    h = x + _mha(
        run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x), num_heads, attention, (theta, max_seq_len, positions)
    )
    ffn = (weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"])
    return h + run_swiglu(d_model, d_ff, *ffn, run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], h))


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
    h = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for i in range(num_layers):
        prefix = f"layers.{i}."
        layer = {name[len(prefix) :]: w for name, w in weights.items() if name.startswith(prefix)}
        h = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, h)
    h = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], h)
    return run_linear(d_model, vocab_size, weights["lm_head.weight"], h)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    shifted = inputs - inputs.amax(dim=-1, keepdim=True)
    target_shifted = shifted.gather(-1, targets.to(inputs.device).long().unsqueeze(-1)).squeeze(-1)
    return (shifted.exp().sum(dim=-1).log() - target_shifted).mean()
