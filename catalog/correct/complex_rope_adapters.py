"""Complex-number RoPE (torch.polar, view_as_complex), log-softmax via logsumexp, a Python loop over heads.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``), in the style of Meta's original
LLaMA code: feature pairs ``(2k, 2k+1)`` are read as complex numbers and
multiplied by unit phasors ``e^{i·p·Θ^(-2k/d)}`` whose angles are computed in
the compute precision (float32, or float64 for float64 inputs). Cross-entropy
is a log-softmax through ``torch.logsumexp``; multi-head attention slices each
head's projection rows and loops over heads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return in_features @ weights.to(device=in_features.device, dtype=in_features.dtype).transpose(0, 1)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    flat = token_ids.reshape(-1).long().to(weights.device)
    return torch.index_select(weights, 0, flat).reshape(*token_ids.shape, d_model)


def run_silu(in_features: Tensor) -> Tensor:
    # exp(-x) overflows float16 already at x < -11, where x·sigmoid(x) ≈ -1e-4 is still a normal float16.
    x = in_features.to(_compute_dtype(in_features.dtype))
    return (x / (1 + torch.exp(-x))).to(in_features.dtype)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    hidden = run_silu(run_linear(d_model, d_ff, w1_weight, x)) * run_linear(d_model, d_ff, w3_weight, x)
    return run_linear(d_ff, d_model, w2_weight, hidden)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    x = in_features.to(_compute_dtype(in_features.dtype))
    rms = torch.sqrt(torch.mean(torch.square(x), dim=-1, keepdim=True) + eps)
    gain = weights.to(device=x.device, dtype=x.dtype)
    return (gain * (x / rms)).to(in_features.dtype)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    real = _compute_dtype(x.dtype)
    device = x.device
    frequencies = 1.0 / (theta ** (torch.arange(0, d_k, 2, device=device, dtype=real) / d_k))
    angles = token_positions.to(device=device, dtype=real)[..., None] * frequencies
    phasors = torch.polar(torch.ones_like(angles), angles)
    as_complex = torch.view_as_complex(x.to(real).reshape(*x.shape[:-1], d_k // 2, 2).contiguous())
    rotated = torch.view_as_real(as_complex * phasors)
    return rotated.reshape(*rotated.shape[:-2], d_k).to(x.dtype)


def _log_softmax(x: Tensor, dim: int) -> Tensor:
    return x - torch.logsumexp(x, dim=dim, keepdim=True)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    # Not exp(log_softmax): for inputs ~1000 that loses |x|·eps of relative precision in the subtraction.
    x = in_features.to(_compute_dtype(in_features.dtype))
    shifted = torch.exp(x - torch.max(x, dim=dim, keepdim=True).values)
    return (shifted / torch.sum(shifted, dim=dim, keepdim=True)).to(in_features.dtype)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    scores = (Q / math.sqrt(Q.shape[-1])) @ K.transpose(-1, -2)
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, -math.inf))
    return run_softmax(scores, -1) @ V


def _attention(
    d_model: int,
    num_heads: int,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    x: Tensor,
    rope: tuple[float, int, Tensor] | None,
) -> Tensor:
    q_proj, k_proj, v_proj, o_proj = (w.to(device=x.device, dtype=x.dtype) for w in weights)
    d_head = d_model // num_heads
    seq = x.shape[-2]
    allowed = torch.tril(torch.ones(seq, seq, dtype=torch.bool, device=x.device))
    outputs = []
    for head in range(num_heads):
        rows = slice(head * d_head, (head + 1) * d_head)
        q, k, v = x @ q_proj[rows].T, x @ k_proj[rows].T, x @ v_proj[rows].T
        if rope is not None:
            theta, max_seq_len, positions = rope
            q = run_rope(d_head, theta, max_seq_len, q, positions)
            k = run_rope(d_head, theta, max_seq_len, k, positions)
        outputs.append(run_scaled_dot_product_attention(q, k, v, allowed))
    return torch.cat(outputs, dim=-1) @ o_proj.T


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
    return _attention(d_model, num_heads, weights, in_features, None)


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
    seq = in_features.shape[-2]
    positions = torch.arange(seq) if token_positions is None else token_positions
    weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _attention(d_model, num_heads, weights, in_features, (theta, max_seq_len, positions))


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
    attention_weights = (
        weights["attn.q_proj.weight"],
        weights["attn.k_proj.weight"],
        weights["attn.v_proj.weight"],
        weights["attn.output_proj.weight"],
    )
    positions = torch.arange(x.shape[-2])
    h = x + _attention(
        d_model,
        num_heads,
        attention_weights,
        run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x),
        (theta, max_seq_len, positions),
    )
    ffn_in = run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], h)
    return h + run_swiglu(
        d_model, d_ff, weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"], ffn_in
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
    h = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for i in range(num_layers):
        layer = {name.split(".", 2)[2]: w for name, w in weights.items() if name.startswith(f"layers.{i}.")}
        h = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, h)
    return run_linear(
        d_model, vocab_size, weights["lm_head.weight"], run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], h)
    )


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    log_probabilities = _log_softmax(inputs.to(_compute_dtype(inputs.dtype)), dim=-1)
    picked = torch.gather(log_probabilities, -1, targets.long().to(inputs.device)[..., None])
    return (-picked).mean().to(inputs.dtype)
