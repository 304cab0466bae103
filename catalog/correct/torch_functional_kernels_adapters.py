"""torch functional kernels, no casts: F.rms_norm/sdpa/cross_entropy on the input dtype, GPT-J rotate_every_two RoPE.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) by a student who trusts
PyTorch's kernels with precision as well as speed. Unlike
``torch_functional_adapters`` (which upcasts RMSNorm, softmax and
cross-entropy itself and uses ``is_causal=True``), nothing here is cast:
``F.rms_norm(x, (d,), weight, eps=eps)`` (whose own kernel accumulates half
inputs in float32), ``F.softmax``, ``F.cross_entropy`` and
``F.scaled_dot_product_attention`` all receive the input dtype. Multi-head
attention passes an explicit boolean ``tril`` mask and ``scale=`` to SDPA and
splits heads with ``Tensor.unflatten``/``movedim``. RoPE is GPT-J's
``rotate_every_two`` with ``repeat_interleave``d cos/sin computed in float32
(float64 for float64) and cast to the input dtype. Linear, embedding and SiLU
are ``F.linear``, ``F.embedding`` and ``F.silu``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor


def _w(weight: Tensor, like: Tensor) -> Tensor:
    return weight.to(dtype=like.dtype, device=like.device)


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return F.linear(in_features, _w(weights, in_features))


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return F.embedding(token_ids.to(weights.device), weights)


def run_silu(in_features: Tensor) -> Tensor:
    return F.silu(in_features)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    gated = F.silu(F.linear(x, _w(w1_weight, x))) * F.linear(x, _w(w3_weight, x))
    return F.linear(gated, _w(w2_weight, x))


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return F.rms_norm(in_features, (d_model,), weight=_w(weights, in_features), eps=eps)


def rotate_every_two(x: Tensor) -> Tensor:
    x1 = x[..., ::2]
    x2 = x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def _sincos(d_k: int, theta: float, positions: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    angle_dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=angle_dtype, device=like.device) / d_k))
    sinusoid = torch.einsum("...s,k->...sk", positions.to(device=like.device, dtype=angle_dtype), inv_freq)
    sin = torch.repeat_interleave(torch.sin(sinusoid), 2, dim=-1).to(like.dtype)
    cos = torch.repeat_interleave(torch.cos(sinusoid), 2, dim=-1).to(like.dtype)
    return sin, cos


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    sin, cos = _sincos(d_k, theta, token_positions, x)
    return (x * cos) + (rotate_every_two(x) * sin)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return F.softmax(in_features, dim=dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return F.scaled_dot_product_attention(Q, K, V, attn_mask=None if mask is None else mask.to(Q.device))


def _self_attention(
    x: Tensor,
    num_heads: int,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    rope: tuple[float, Tensor] | None = None,
) -> Tensor:
    q_w, k_w, v_w, o_w = (_w(w, x) for w in weights)
    q, k, v = (F.linear(x, w).unflatten(-1, (num_heads, -1)).movedim(-2, -3) for w in (q_w, k_w, v_w))
    if rope is not None:
        theta, positions = rope
        sin, cos = _sincos(q.shape[-1], theta, positions[..., None, :], q)
        q = q * cos + rotate_every_two(q) * sin
        k = k * cos + rotate_every_two(k) * sin
    seq = x.shape[-2]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=causal, scale=1.0 / math.sqrt(q.shape[-1]))
    return F.linear(out.movedim(-3, -2).flatten(-2), o_w)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    return _self_attention(in_features, num_heads, (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight))


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
    return _self_attention(x, num_heads, weights, (theta, positions))


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
    attn = tuple(weights[f"attn.{p}.weight"] for p in ("q_proj", "k_proj", "v_proj", "output_proj"))
    h = F.rms_norm(x, (d_model,), weight=_w(weights["ln1.weight"], x), eps=1e-5)
    x = x + _self_attention(h, num_heads, attn, (theta, torch.arange(x.shape[-2], device=x.device)))
    h = F.rms_norm(x, (d_model,), weight=_w(weights["ln2.weight"], x), eps=1e-5)
    return x + run_swiglu(
        d_model, d_ff, weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"], h
    )


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
    for layer in range(num_layers):
        own = {name.split(".", 2)[2]: w for name, w in weights.items() if name.startswith(f"layers.{layer}.")}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, own, x)
    x = F.rms_norm(x, (d_model,), weight=_w(weights["ln_final.weight"], x), eps=1e-5)
    return F.linear(x, _w(weights["lm_head.weight"], x))


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(inputs.reshape(-1, inputs.shape[-1]), targets.to(inputs.device).reshape(-1).long())
