"""The Transformer LM of SPEC §1–§2 written a second time, in float64, sharing no code with ``reference/``.

``torch.nn.functional`` primitives (``F.embedding``, ``F.linear``, ``F.rms_norm``, ``F.silu``,
``F.scaled_dot_product_attention``, ``F.cross_entropy``) plus RoPE and sinusoidal positions as explicit
loops over feature pairs, straight from the SPEC's formulas. Golden tests compare recorded float64
snapshots with it, so a snapshot cannot silently record a reference bug.

``config`` is read by field name only (``num_heads``, ``num_kv_heads``, ``head_dim``, ``qk_norm``,
``rope_layout``, ``position_encoding``, ...), so any object with the ``TransformerConfig`` fields works.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor


def rope(x: Tensor, positions: Tensor, theta: float, layout: str = "interleaved") -> Tensor:
    """Rotate feature pair k of position p by p·Θ^(-2k/d): pairs (2k, 2k+1) interleaved, (k, k+d/2) half."""
    d = x.shape[-1]
    out = x.clone()
    for k in range(d // 2):
        angle = positions.to(torch.float64) * theta ** (-2 * k / d)
        cos, sin = angle.cos(), angle.sin()
        i, j = (2 * k, 2 * k + 1) if layout == "interleaved" else (k, k + d // 2)
        out[..., i] = x[..., i] * cos - x[..., j] * sin
        out[..., j] = x[..., i] * sin + x[..., j] * cos
    return out


def sinusoidal(positions: Tensor, d_model: int, base: float = 10000.0) -> Tensor:
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)) (Vaswani et al.)."""
    out = torch.empty(*positions.shape, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = positions.to(torch.float64) / base ** (2 * i / d_model)
        out[..., 2 * i], out[..., 2 * i + 1] = angle.sin(), angle.cos()
    return out


def _sub(weights: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key.removeprefix(prefix): value for key, value in weights.items() if key.startswith(prefix)}


def self_attention(x: Tensor, weights: Mapping[str, Tensor], config, positions: Tensor | None) -> Tensor:
    """Causal attention; query head h reads k/v head h // (heads / kv_heads); RoPE only when positions given."""
    heads = config.num_heads
    kv_heads = config.num_kv_heads or heads
    d_head = config.head_dim or config.d_model // heads

    def project(name: str, count: int) -> Tensor:
        y = F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))
        return y.unflatten(-1, (count, d_head)).transpose(-3, -2)  # (..., heads, seq, d_head)

    q, k, v = project("q_proj", heads), project("k_proj", kv_heads), project("v_proj", kv_heads)
    if config.qk_norm:
        q = F.rms_norm(q, (d_head,), weights["q_norm.weight"], config.norm_eps)
        k = F.rms_norm(k, (d_head,), weights["k_norm.weight"], config.norm_eps)
    if positions is not None:
        per_head = positions.unsqueeze(-2)  # the same positions for every head of an example
        q = rope(q, per_head, config.rope_theta, config.rope_layout)
        k = rope(k, per_head, config.rope_theta, config.rope_layout)
    k, v = k.repeat_interleave(heads // kv_heads, dim=-3), v.repeat_interleave(heads // kv_heads, dim=-3)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.linear(out.transpose(-3, -2).flatten(-2), weights["output_proj.weight"])


def transformer_block(x: Tensor, weights: Mapping[str, Tensor], config, positions: Tensor | None) -> Tensor:
    d, eps = config.d_model, config.norm_eps
    y = x + self_attention(F.rms_norm(x, (d,), weights["ln1.weight"], eps), _sub(weights, "attn."), config, positions)
    h = F.rms_norm(y, (d,), weights["ln2.weight"], eps)
    w1, w2, w3 = (weights[f"ffn.{name}.weight"] for name in ("w1", "w2", "w3"))
    return y + F.linear(F.silu(F.linear(h, w1)) * F.linear(h, w3), w2)


def transformer_lm(token_ids: Tensor, weights: Mapping[str, Tensor], config) -> Tensor:
    positions = torch.arange(token_ids.shape[-1])
    x = F.embedding(token_ids, weights["token_embeddings.weight"])
    if config.position_encoding == "sinusoidal":
        x = x + sinusoidal(positions, config.d_model)
    rope_positions = positions if config.position_encoding == "rope" else None
    for layer in range(config.num_layers):
        x = transformer_block(x, _sub(weights, f"layers.{layer}."), config, rope_positions)
    x = F.rms_norm(x, (config.d_model,), weights["ln_final.weight"], config.norm_eps)
    return F.linear(x, weights.get("lm_head.weight", weights["token_embeddings.weight"]))  # tied: one matrix


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten())
