"""Reduction orders: rsqrt of sum/n, softmax as exp(z - logsumexp z), broadcast-multiply-sum linear, bmm heads.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) whose every reduction is ordered
differently from the textbook formula, so its roundings differ from the
reference's everywhere: Linear is ``(x[..., None, :] * W).sum(-1)`` (no
matmul), RMSNorm multiplies by ``torch.rsqrt(x.square().sum(-1) / d + eps)``,
softmax is ``exp(z - logsumexp(z))`` of ``z = x - max``, cross-entropy ``logsumexp(x) - x_t``,
SiLU ``x / (1 + exp(-x))`` evaluated stably through ``sigmoid``'s symmetry,
attention scales Q by ``d_k ** -0.5`` *before* the product and runs on
``torch.bmm`` over flattened leading dims, RoPE rotates with
``torch.addcmul``. float16/bfloat16 inputs are computed in float32; float64
stays float64. Masking adds ``log(mask)`` (0 or -inf) to the scores.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def _up(x: Tensor) -> Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _linear(x: Tensor, w: Tensor) -> Tensor:
    return (x.unsqueeze(-2) * w.to(device=x.device, dtype=x.dtype)).sum(dim=-1)


def _silu(x: Tensor) -> Tensor:
    # x / (1 + e^{-x}) overflows e^{-x} for very negative x; the same value is x·e^{x} / (1 + e^{x}) there.
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, x / (1 + e), x * e / (1 + e))


def _rmsnorm(x: Tensor, g: Tensor, eps: float) -> Tensor:
    return x * torch.rsqrt(x.square().sum(dim=-1, keepdim=True) / x.shape[-1] + eps) * g.to(x.device, x.dtype)


def _rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    d_k = x.shape[-1]
    exponent = torch.arange(d_k // 2, dtype=x.dtype, device=x.device) * (2.0 / d_k)
    angles = positions.to(device=x.device, dtype=x.dtype).unsqueeze(-1) * torch.pow(float(theta), -exponent)
    cos, sin = torch.cos(angles), torch.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack(
        (torch.addcmul(even * cos, odd, sin, value=-1.0), torch.addcmul(odd * cos, even, sin)), dim=-1
    ).flatten(-2)


def _softmax(x: Tensor, dim: int) -> Tensor:
    # exp(z - logsumexp(z)) on z = x - max: logsumexp(z) lies in [0, log n]. On raw x ≈ 1000 it would round
    # logsumexp(x) to |x|·ε and every probability with it (150 float32 ulps at x + 1000).
    z = x - x.amax(dim=dim, keepdim=True)
    return torch.exp(z - torch.logsumexp(z, dim=dim, keepdim=True))


def _attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    n, m, d, d_v = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    score_batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    qb = (q * d**-0.5).expand(*score_batch, n, d).reshape(-1, n, d)  # scale before the product
    kb = k.expand(*score_batch, m, d).reshape(-1, m, d)
    scores = torch.bmm(qb, kb.transpose(1, 2)).reshape(*score_batch, n, m)
    if mask is not None:
        scores = scores + torch.log(mask.to(device=scores.device, dtype=scores.dtype))  # log 1 = 0, log 0 = -inf
    weights = _softmax(scores, -1)
    batch = torch.broadcast_shapes(weights.shape[:-2], v.shape[:-2])
    wb = weights.expand(*batch, n, m).reshape(-1, n, m)
    vb = v.expand(*batch, m, d_v).reshape(-1, m, d_v)
    return torch.bmm(wb, vb).reshape(*batch, n, d_v)


def _mha(x: Tensor, heads: int, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor, rope=None) -> Tensor:
    seq = x.shape[-2]
    q, k, v = (_linear(x, w).unflatten(-1, (heads, -1)).transpose(-3, -2) for w in (wq, wk, wv))
    if rope is not None:
        theta, positions = rope
        positions = positions.to(x.device).unsqueeze(-2)
        q, k = _rope(q, positions, theta), _rope(k, positions, theta)
    causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    return _linear(_attention(q, k, v, causal).transpose(-3, -2).flatten(-2), wo)


def _block(x: Tensor, w: Mapping[str, Tensor], heads: int, theta: float) -> Tensor:
    attn = [w[f"attn.{p}.weight"] for p in ("q_proj", "k_proj", "v_proj", "output_proj")]
    x = x + _mha(_rmsnorm(x, w["ln1.weight"], 1e-5), heads, *attn, rope=(theta, torch.arange(x.shape[-2])))
    h = _rmsnorm(x, w["ln2.weight"], 1e-5)
    return x + _linear(_silu(_linear(h, w["ffn.w1.weight"])) * _linear(h, w["ffn.w3.weight"]), w["ffn.w2.weight"])


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return _linear(_up(in_features), weights).to(in_features.dtype)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    flat = token_ids.to(weights.device).reshape(-1).long()
    rows = [weights[i] for i in flat.tolist()]  # row by row: a gather written as a loop
    return (torch.stack(rows) if rows else weights[:0]).reshape(*token_ids.shape, d_model)


def run_silu(in_features: Tensor) -> Tensor:
    return _silu(_up(in_features)).to(in_features.dtype)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = _up(in_features)
    return _linear(_silu(_linear(x, w1_weight)) * _linear(x, w3_weight), w2_weight).to(in_features.dtype)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return _rmsnorm(_up(in_features), weights, eps).to(in_features.dtype)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    return _rope(_up(in_query_or_key), token_positions, theta).to(in_query_or_key.dtype)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return _softmax(_up(in_features), dim).to(in_features.dtype)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return _attention(_up(Q), _up(K), _up(V), mask).to(Q.dtype)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    x = _up(in_features)
    return _mha(x, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight).to(in_features.dtype)


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
    x = _up(in_features)
    positions = torch.arange(x.shape[-2]) if token_positions is None else token_positions
    out = _mha(x, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, rope=(theta, positions))
    return out.to(in_features.dtype)


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    return _block(_up(in_features), weights, num_heads, theta).to(in_features.dtype)


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
    embeddings = weights["token_embeddings.weight"]
    x = _up(run_embedding(vocab_size, d_model, embeddings, in_indices))
    for i in range(num_layers):
        prefix = f"layers.{i}."
        x = _block(x, {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, num_heads, rope_theta)
    return _linear(_rmsnorm(x, weights["ln_final.weight"], 1e-5), weights["lm_head.weight"]).to(embeddings.dtype)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    logits = _up(inputs)
    picked = torch.take_along_dim(logits, targets.to(logits.device).long().unsqueeze(-1), dim=-1).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - picked).mean().to(inputs.dtype)
