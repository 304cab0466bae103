"""float64 internals: a decorator widens every floating input (weights included) to float64 and narrows the result.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) by a student who sidesteps
precision questions altogether: ``@in_float64`` converts every floating
tensor argument, and every tensor in a weights dictionary, to float64,
runs plain float64 math and casts the result back to the dtype of the
floating input (for the LM, of its embedding weights). Components are
written with ``torch.einsum``, ``torch.where`` and explicit loops over layers;
RoPE builds a block-diagonal rotation by scattering cos/sin into a
``(…, d_k, d_k)`` matrix. A float16 output is therefore the float64 truth
rounded once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

F64 = torch.float64


def _widen(value: object) -> object:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.to(F64)
    if isinstance(value, Mapping):
        return {key: _widen(item) for key, item in value.items()}
    return value


def _first_float_dtype(values: list[object]) -> torch.dtype | None:
    for value in values:
        if isinstance(value, Tensor) and value.is_floating_point():
            return value.dtype
        if isinstance(value, Mapping):
            found = _first_float_dtype(list(value.values()))
            if found is not None:
                return found
    return None


def in_float64(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Run ``function`` on float64 copies of its floating arguments; return the first floating argument's dtype."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        out_dtype = _first_float_dtype([*args, *kwargs.values()])
        result = function(*(_widen(a) for a in args), **{k: _widen(v) for k, v in kwargs.items()})
        return result.to(out_dtype)

    return wrapper


# ---- float64 math ---------------------------------------------------------------------------------------------


def _linear(x: Tensor, w: Tensor) -> Tensor:
    return torch.einsum("...i,oi->...o", x, w.to(x.device))


def _silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def _swiglu(x: Tensor, w1: Tensor, w2: Tensor, w3: Tensor) -> Tensor:
    return _linear(_silu(_linear(x, w1)) * _linear(x, w3), w2)


def _rmsnorm(x: Tensor, g: Tensor, eps: float) -> Tensor:
    return x / torch.sqrt(torch.einsum("...d,...d->...", x, x).unsqueeze(-1) / x.shape[-1] + eps) * g.to(x.device)


def _rotation(d_k: int, theta: float, positions: Tensor) -> Tensor:
    """``(*positions.shape, d_k, d_k)`` block-diagonal: block k rotates by ``p · Θ^(-2k/d_k)``."""
    k = torch.arange(d_k // 2, dtype=F64, device=positions.device)
    angles = positions.to(F64).unsqueeze(-1) * torch.exp(-2.0 * k / d_k * math.log(theta))
    rotation = torch.zeros(*angles.shape[:-1], d_k, d_k, dtype=F64, device=positions.device)
    even, odd = 2 * k.long(), 2 * k.long() + 1
    rotation[..., even, even] = torch.cos(angles)
    rotation[..., even, odd] = -torch.sin(angles)
    rotation[..., odd, even] = torch.sin(angles)
    rotation[..., odd, odd] = torch.cos(angles)
    return rotation


def _rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    return torch.einsum("...ij,...j->...i", _rotation(x.shape[-1], theta, positions.to(x.device)), x)


def _softmax(x: Tensor, dim: int) -> Tensor:
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def _attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = torch.where(mask.to(scores.device), scores, -math.inf)
    return torch.einsum("...qk,...kd->...qd", _softmax(scores, -1), v)


def _mha(x: Tensor, heads: int, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor, rope=None) -> Tensor:
    seq = x.shape[-2]
    q, k, v = (_linear(x, w).unflatten(-1, (heads, -1)).transpose(-2, -3) for w in (wq, wk, wv))
    if rope is not None:
        theta, positions = rope
        positions = positions.to(x.device).expand(x.shape[:-1]).unsqueeze(-2)  # (..., 1, seq)
        q, k = _rope(q, positions, theta), _rope(k, positions, theta)
    causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    return _linear(_attention(q, k, v, causal).transpose(-2, -3).flatten(-2), wo)


def _block(x: Tensor, w: Mapping[str, Tensor], heads: int, theta: float) -> Tensor:
    positions = torch.arange(x.shape[-2], device=x.device)
    attn = (w["attn.q_proj.weight"], w["attn.k_proj.weight"], w["attn.v_proj.weight"], w["attn.output_proj.weight"])
    y = x + _mha(_rmsnorm(x, w["ln1.weight"], 1e-5), heads, *attn, rope=(theta, positions))
    return y + _swiglu(_rmsnorm(y, w["ln2.weight"], 1e-5), w["ffn.w1.weight"], w["ffn.w2.weight"], w["ffn.w3.weight"])


# ---- adapters -------------------------------------------------------------------------------------------------


@in_float64
def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return _linear(in_features, weights)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return weights[token_ids.to(weights.device).long()]  # a copy of rows: nothing to compute


@in_float64
def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    return _swiglu(in_features, w1_weight, w2_weight, w3_weight)


@in_float64
def run_silu(in_features: Tensor) -> Tensor:
    return _silu(in_features)


@in_float64
def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return _rmsnorm(in_features, weights, eps)


@in_float64
def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    return _rope(in_query_or_key, token_positions, theta)


@in_float64
def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return _softmax(in_features, dim)


@in_float64
def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return _attention(Q, K, V, mask)


@in_float64
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


@in_float64
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
    return _mha(x, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, rope=(theta, positions))


@in_float64
def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    return _block(in_features, weights, num_heads, theta)


@in_float64
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
    x = embeddings[in_indices.to(embeddings.device).long()]
    for i in range(num_layers):
        prefix = f"layers.{i}."
        x = _block(
            x, {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}, num_heads, rope_theta
        )
    return _linear(_rmsnorm(x, weights["ln_final.weight"], 1e-5), weights["lm_head.weight"])


@in_float64
def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    m = inputs.amax(dim=-1, keepdim=True)
    log_z = m.squeeze(-1) + torch.log(torch.exp(inputs - m).sum(dim=-1))
    return (log_z - torch.take_along_dim(inputs, targets.to(inputs.device).long().unsqueeze(-1), -1).squeeze(-1)).mean()
