"""RoPE heads axis: RoPE itself inserts the heads axis for (batch, seq) positions against (batch, heads, seq, d).

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) by a student whose RoPE is called
straight from attention with the batch's positions: when ``token_positions``
has exactly one dimension fewer than the input's leading dimensions and more
than one dimension (``(batch, seq)`` against ``(batch, heads, seq, d)``), RoPE
inserts the heads axis (``positions.unsqueeze(-2)``), the left-aligned
reading SPEC §4 mentions; every shape SPEC §4 scores (``(seq,)``, all-ones
leading dims, the input's full leading shape) reads the same either way.
Multi-head attention expands positions to the input's leading shape and lets
RoPE find the heads axis. cos/sin are computed from the positions on the fly in
float32 (no cache), pairs are swapped with ``flip(-1)`` times ``[-1, 1]``.
RMSNorm's root mean square is ``torch.linalg.vector_norm / sqrt(d)``, Linear
a ``torch.tensordot``, cross-entropy ``-log_softmax`` gathered; masking uses
``torch.where`` with ``finfo.min``. Linear, SiLU and SwiGLU run in the input
dtype; RMSNorm, RoPE, softmax, attention and cross-entropy compute
float16/bfloat16 in float32 and cast back; float64 stays float64 except the
RoPE angles (float32).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def linear(x: Tensor, w: Tensor) -> Tensor:
    return torch.tensordot(x, w.to(device=x.device, dtype=x.dtype), dims=([-1], [1]))


def rmsnorm(x: Tensor, g: Tensor, eps: float) -> Tensor:
    wide = x.to(_compute_dtype(x.dtype))
    d = wide.shape[-1]
    norm = torch.linalg.vector_norm(wide, ord=2, dim=-1, keepdim=True)
    rms = torch.sqrt(norm.square() / d + eps)
    return (wide / rms * g.to(device=wide.device, dtype=wide.dtype)).to(x.dtype)


def rope(x: Tensor, token_positions: Tensor, theta: float) -> Tensor:
    lead = x.dim() - 1  # x: (..., seq, d_k); positions: (..., seq)
    if 1 < token_positions.dim() == lead - 1:
        token_positions = token_positions.unsqueeze(-2)  # (batch, seq) for (batch, heads, seq, d): the heads axis
    d_k = x.shape[-1]
    inv_freq = torch.exp(torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) * (-math.log(theta) / d_k))
    angles = token_positions.to(device=x.device, dtype=torch.float32)[..., None] * inv_freq
    wide = x.to(_compute_dtype(x.dtype))
    cos = repeat(angles.cos().to(wide.dtype), "... k -> ... (k two)", two=2)
    sin = repeat(angles.sin().to(wide.dtype), "... k -> ... (k two)", two=2)
    sign = torch.tensor([-1.0, 1.0], dtype=wide.dtype, device=x.device)
    swapped = rearrange(rearrange(wide, "... (k two) -> ... k two", two=2).flip(-1) * sign, "... k two -> ... (k two)")
    return (wide * cos + swapped * sin).to(x.dtype)


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.to(_compute_dtype(x.dtype)).softmax(dim).to(x.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    dtype = q.dtype
    q, k, v = (t.to(_compute_dtype(dtype)) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = torch.where(mask.to(scores.device), scores, torch.finfo(scores.dtype).min)
    return (scores.softmax(-1) @ v).to(dtype)


def self_attention(x: Tensor, heads: int, w: Mapping[str, Tensor], rope_at: tuple[float, Tensor] | None) -> Tensor:
    q, k, v = (rearrange(linear(x, w[p]), "... s (h d) -> ... h s d", h=heads) for p in ("q", "k", "v"))
    if rope_at is not None:
        theta, positions = rope_at
        positions = positions.to(x.device).expand(x.shape[:-1])  # (..., seq): RoPE adds the heads axis
        q, k = rope(q, positions, theta), rope(k, positions, theta)
    seq = x.shape[-2]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    return linear(rearrange(attention(q, k, v, causal), "... h s d -> ... s (h d)"), w["o"])


def block(x: Tensor, weights: Mapping[str, Tensor], heads: int, theta: float) -> Tensor:
    w = {p[0]: weights[f"attn.{p}_proj.weight"] for p in ("q", "k", "v")} | {"o": weights["attn.output_proj.weight"]}
    y = x + self_attention(rmsnorm(x, weights["ln1.weight"], 1e-5), heads, w, (theta, torch.arange(x.shape[-2])))
    h = rmsnorm(y, weights["ln2.weight"], 1e-5)
    gate, up = linear(h, weights["ffn.w1.weight"]), linear(h, weights["ffn.w3.weight"])
    return y + linear(F.silu(gate) * up, weights["ffn.w2.weight"])


# ---- adapters ---------------------------------------------------------------------------------------------------


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return linear(in_features, weights)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return weights[token_ids.to(weights.device).long()]


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    return linear(F.silu(linear(x, w1_weight)) * linear(x, w3_weight), w2_weight)


def run_silu(in_features: Tensor) -> Tensor:
    return F.silu(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return rmsnorm(in_features, weights, eps)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    return rope(in_query_or_key, token_positions, theta)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return softmax(in_features, dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return attention(Q, K, V, mask)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    w = {"q": q_proj_weight, "k": k_proj_weight, "v": v_proj_weight, "o": o_proj_weight}
    return self_attention(in_features, num_heads, w, None)


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
    positions = torch.arange(x.shape[-2]) if token_positions is None else token_positions
    w = {"q": q_proj_weight, "k": k_proj_weight, "v": v_proj_weight, "o": o_proj_weight}
    return self_attention(x, num_heads, w, (theta, positions))


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    return block(in_features, weights, num_heads, theta)


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
    for i in range(num_layers):
        layer = {name.removeprefix(f"layers.{i}."): w for name, w in weights.items() if name.startswith(f"layers.{i}.")}
        x = block(x, layer, num_heads, rope_theta)
    return linear(rmsnorm(x, weights["ln_final.weight"], 1e-5), weights["lm_head.weight"])


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    log_probs = F.log_softmax(inputs.to(_compute_dtype(inputs.dtype)), dim=-1)
    return (-log_probs.gather(-1, targets.to(inputs.device).long()[..., None])).mean().to(inputs.dtype)
