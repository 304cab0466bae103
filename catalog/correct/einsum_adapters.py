"""Einsum everywhere: every contraction is a torch.einsum, interleaved RoPE rotates stacked 2×2 matrices.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``). The catalog runs the property
suite against it to show the suite passes correct code that is written
differently from the reference: embedding as a one-hot contraction, RoPE as
per-pair rotation matrices built by ``torch.stack``, attention and the
heads as einsum subscripts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor


def _wide(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 compute in float32; float32 and float64 keep their own precision."""
    return torch.promote_types(dtype, torch.float32)


def _cast(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return torch.einsum("...i,oi->...o", in_features, _cast(weights, in_features))


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    # One 1 per row of the one-hot matrix: the contraction copies that row of weights exactly.
    one_hot = torch.nn.functional.one_hot(token_ids.long().to(weights.device), vocab_size).to(weights.dtype)
    return torch.einsum("...v,vd->...d", one_hot, weights)


def run_silu(in_features: Tensor) -> Tensor:
    return in_features * torch.sigmoid(in_features)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    gate = torch.einsum("...d,fd->...f", x, _cast(w1_weight, x))
    up = torch.einsum("...d,fd->...f", x, _cast(w3_weight, x))
    return torch.einsum("...f,df->...d", run_silu(gate) * up, _cast(w2_weight, x))


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    x = in_features.to(_wide(in_features.dtype))
    mean_square = torch.einsum("...d,...d->...", x, x)[..., None] / d_model
    out = x / torch.sqrt(mean_square + eps) * weights.to(device=x.device, dtype=x.dtype)
    return out.to(in_features.dtype)


def _rotations(d_k: int, theta: float, positions: Tensor, dtype: torch.dtype) -> Tensor:
    """``(..., seq, d_k/2, 2, 2)`` rotation matrices ``[[cos, -sin], [sin, cos]]`` per position and pair."""
    pair = torch.arange(d_k // 2, dtype=torch.float64, device=positions.device)
    inverse_frequency = float(theta) ** (-2.0 * pair / d_k)
    angles = torch.einsum("...s,k->...sk", positions.to(torch.float64), inverse_frequency)
    cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
    return torch.stack((torch.stack((cos, -sin), dim=-1), torch.stack((sin, cos), dim=-1)), dim=-2)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    wide = x.to(_wide(x.dtype))
    rotations = _rotations(d_k, theta, token_positions.to(x.device), wide.dtype)
    pairs = wide.unflatten(-1, (d_k // 2, 2))
    return torch.einsum("...kij,...kj->...ki", rotations, pairs).flatten(-2).to(x.dtype)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    x = in_features.to(_wide(in_features.dtype))
    exps = (x - x.amax(dim=dim, keepdim=True)).exp()
    return (exps / exps.sum(dim=dim, keepdim=True)).to(in_features.dtype)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    scores = torch.einsum("...qd,...kd->...qk", Q, K) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask.to(torch.bool), float("-inf"))
    return torch.einsum("...qk,...kv->...qv", run_softmax(scores, -1), V)


def _attention(
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    x: Tensor,
    rope: tuple[float, Tensor] | None,
) -> Tensor:
    seq = x.shape[-2]

    def heads(weight: Tensor) -> Tensor:
        per_head = _cast(weight, x).unflatten(0, (num_heads, -1))  # (heads, d_head, d_model)
        return torch.einsum("...sd,hed->...hse", x, per_head)

    q, k, v = heads(q_proj_weight), heads(k_proj_weight), heads(v_proj_weight)
    if rope is not None:
        theta, positions = rope
        d_head = q.shape[-1]
        per_head = positions.unsqueeze(-2)  # the same positions for every head of an example
        q = run_rope(d_head, theta, seq, q, per_head)
        k = run_rope(d_head, theta, seq, k, per_head)
    causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    out = run_scaled_dot_product_attention(q, k, v, causal)
    per_head_out = _cast(o_proj_weight, x).unflatten(1, (num_heads, -1))  # (d_model, heads, d_head)
    return torch.einsum("...hse,dhe->...sd", out, per_head_out)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    return _attention(num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features, None)


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
    if token_positions is None:
        token_positions = torch.arange(x.shape[-2], device=x.device)
    rope = (theta, token_positions.to(x.device))
    return _attention(num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, x, rope)


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
    attn = [weights[f"attn.{name}.weight"] for name in ("q_proj", "k_proj", "v_proj", "output_proj")]
    normed = run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x)
    y = x + _attention(num_heads, *attn, normed, (theta, positions))
    ffn = [weights[f"ffn.{name}.weight"] for name in ("w1", "w2", "w3")]
    return y + run_swiglu(d_model, d_ff, *ffn, run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], y))


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
    x = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for layer in range(num_layers):
        prefix = f"layers.{layer}."
        block = {key.removeprefix(prefix): value for key, value in weights.items() if key.startswith(prefix)}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, block, x)
    x = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    return run_linear(d_model, vocab_size, weights["lm_head.weight"], x)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    logits = inputs.to(_wide(inputs.dtype))
    maximum = logits.amax(dim=-1, keepdim=True)
    log_normaliser = maximum[..., 0] + (logits - maximum).exp().sum(dim=-1).log()
    one_hot = torch.nn.functional.one_hot(targets.long().to(logits.device), logits.shape[-1]).to(logits.dtype)
    target_logits = torch.einsum("...v,...v->...", logits, one_hot)
    return (log_normaliser - target_logits).mean().to(inputs.dtype)
