"""Flash-attention style: online softmax over key blocks (running max and sum), never a full score matrix.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) in the style of FlashAttention
and chunked-vocabulary losses: attention walks query blocks and, inside each,
key/value blocks of ``BLOCK`` rows, keeping a running row max ``m``, running
normaliser ``l`` and an unnormalised accumulator rescaled by ``exp(m_old -
m_new)`` whenever the max grows; causal attention skips key blocks wholly in
the future and masks only the diagonal block. Softmax is the two-pass online
normaliser (Milakov & Gimelshein), cross-entropy an online logsumexp over
vocabulary chunks. Accumulators are float32 for float16/bfloat16 inputs (as
the kernels' are) and float64 for float64; matmuls stream one block at a
time. Everything else is plain ``torch`` with ``@`` and ``.mT``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

BLOCK = 4  # small, so the tests' short sequences span several blocks


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _shift(running_max: Tensor) -> Tensor:
    """The max to subtract; 0 for rows that have seen only masked (-inf) scores so far, avoiding inf - inf."""
    return torch.where(torch.isneginf(running_max), torch.zeros_like(running_max), running_max)


def flash_attention(
    Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None, causal: bool = False, block: int = BLOCK
) -> Tensor:
    acc_dtype = _acc(Q.dtype)
    n, m, d_v = Q.shape[-2], K.shape[-2], V.shape[-1]
    batch = torch.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2], () if mask is None else mask.shape[:-2])
    scale = 1.0 / math.sqrt(Q.shape[-1])
    outputs = []
    for q_start in range(0, n, block):
        q_end = min(q_start + block, n)
        q = Q[..., q_start:q_end, :].to(acc_dtype) * scale
        rows = q_end - q_start
        running_max = torch.full((*batch, rows, 1), -math.inf, dtype=acc_dtype, device=Q.device)
        running_sum = torch.zeros((*batch, rows, 1), dtype=acc_dtype, device=Q.device)
        acc = torch.zeros((*batch, rows, d_v), dtype=acc_dtype, device=Q.device)
        k_stop = min(m, q_end) if causal else m  # key blocks wholly in the future are skipped
        for k_start in range(0, k_stop, block):
            k_end = min(k_start + block, k_stop)
            s = q @ K[..., k_start:k_end, :].to(acc_dtype).mT
            if mask is not None:
                s = s.masked_fill(~mask[..., q_start:q_end, k_start:k_end].to(Q.device), -math.inf)
            if causal and k_end > q_start + 1:
                query_index = torch.arange(q_start, q_end, device=Q.device)[:, None]
                key_index = torch.arange(k_start, k_end, device=Q.device)[None, :]
                s = s.masked_fill(key_index > query_index, -math.inf)
            new_max = torch.maximum(running_max, s.amax(dim=-1, keepdim=True))
            shift = _shift(new_max)
            correction = torch.exp(running_max - shift)
            p = torch.exp(s - shift)
            running_sum = running_sum * correction + p.sum(dim=-1, keepdim=True)
            acc = acc * correction + p @ V[..., k_start:k_end, :].to(acc_dtype)
            running_max = new_max
        outputs.append(acc / running_sum)
    return torch.cat(outputs, dim=-2).to(Q.dtype)


def online_softmax(x: Tensor, dim: int, block: int = BLOCK) -> Tensor:
    z = x.movedim(dim, -1).to(_acc(x.dtype))
    running_max = torch.full((*z.shape[:-1], 1), -math.inf, dtype=z.dtype, device=z.device)
    running_sum = torch.zeros_like(running_max)
    for chunk in z.split(block, dim=-1):  # pass 1: max and normaliser together
        new_max = torch.maximum(running_max, chunk.amax(dim=-1, keepdim=True))
        shift = _shift(new_max)
        running_sum = running_sum * torch.exp(running_max - shift) + torch.exp(chunk - shift).sum(-1, keepdim=True)
        running_max = new_max
    shift = _shift(running_max)
    out = torch.cat([torch.exp(chunk - shift) / running_sum for chunk in z.split(block, dim=-1)], dim=-1)  # pass 2
    return out.movedim(-1, dim).to(x.dtype)


def online_logsumexp(x: Tensor, block: int = BLOCK) -> Tensor:
    running_max = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)
    running_sum = torch.zeros_like(running_max)
    for chunk in x.split(block, dim=-1):
        new_max = torch.maximum(running_max, chunk.amax(dim=-1))
        shift = _shift(new_max)
        running_sum = running_sum * torch.exp(running_max - shift) + torch.exp(chunk - shift[..., None]).sum(-1)
        running_max = new_max
    return _shift(running_max) + torch.log(running_sum)


def _w(weight: Tensor, x: Tensor) -> Tensor:
    return weight.to(device=x.device, dtype=x.dtype)


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return in_features @ _w(weights, in_features).mT


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return weights[token_ids.to(weights.device).long()]


def run_silu(in_features: Tensor) -> Tensor:
    return in_features * torch.sigmoid(in_features)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    x = in_features
    return (run_silu(x @ _w(w1_weight, x).mT) * (x @ _w(w3_weight, x).mT)) @ _w(w2_weight, x).mT


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    x = in_features.to(_acc(in_features.dtype))
    normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return (normed * weights.to(device=x.device, dtype=x.dtype)).to(in_features.dtype)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    inv_freq = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k)
    angles = token_positions.to(device=x.device, dtype=torch.float32)[..., None] * inv_freq  # float32 angles
    cos, sin = angles.cos().to(_acc(x.dtype)), angles.sin().to(_acc(x.dtype))
    pairs = x.to(_acc(x.dtype)).unflatten(-1, (d_k // 2, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2).to(x.dtype)


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return online_softmax(in_features, dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return flash_attention(Q, K, V, mask=mask)


def _mha(x: Tensor, num_heads: int, w_q, w_k, w_v, w_o, rope: tuple[float, int, Tensor] | None = None) -> Tensor:
    def heads(w: Tensor) -> Tensor:
        return run_linear(0, 0, w, x).unflatten(-1, (num_heads, -1)).transpose(-3, -2)

    q, k, v = heads(w_q), heads(w_k), heads(w_v)
    if rope is not None:
        theta, max_seq_len, positions = rope
        positions = positions[..., None, :]
        q = run_rope(q.shape[-1], theta, max_seq_len, q, positions)
        k = run_rope(k.shape[-1], theta, max_seq_len, k, positions)
    out = flash_attention(q, k, v, causal=True)
    return run_linear(0, 0, w_o, out.transpose(-3, -2).flatten(-2))


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    return _mha(in_features, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)


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
    positions = torch.arange(x.shape[-2], device=x.device) if token_positions is None else token_positions.to(x.device)
    rope = (theta, max_seq_len, positions)
    return _mha(x, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, rope)


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
    attn = [weights[f"attn.{p}.weight"] for p in ("q_proj", "k_proj", "v_proj", "output_proj")]
    rope = (theta, max_seq_len, torch.arange(x.shape[-2], device=x.device))
    x = x + _mha(run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x), num_heads, *attn, rope=rope)
    ffn = [weights[f"ffn.{p}.weight"] for p in ("w1", "w2", "w3")]
    return x + run_swiglu(d_model, d_ff, *ffn, run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], x))


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
        layer = {k.removeprefix(f"layers.{i}."): v for k, v in weights.items() if k.startswith(f"layers.{i}.")}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, x)
    return run_linear(
        d_model, vocab_size, weights["lm_head.weight"], run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    )


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    logits = inputs.to(_acc(inputs.dtype))
    target_logits = logits.gather(-1, targets.to(logits.device).long()[..., None])[..., 0]
    return (online_logsumexp(logits) - target_logits).mean().to(inputs.dtype)
