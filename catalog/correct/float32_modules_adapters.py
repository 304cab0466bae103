"""float32 modules: default-dtype nn.Parameters filled by load_state_dict; inputs cast in and outputs cast back.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``), the way most students' adapters
end up: every module is built with PyTorch's default dtype
(``nn.Parameter(torch.empty(...))``, float32), the caller's weights are
copied in with ``load_state_dict`` (so float64 weights are rounded to float32
and float16/bfloat16 ones widened), the adapter casts whatever arrives to the
module's dtype and casts the result back to the input's dtype. So every
module with parameters (and RoPE, whose float32 cache is a buffer) computes in
float32 whatever the input dtype; the parameter-free functions (SiLU,
softmax, attention, cross-entropy) compute in the input's own dtype.
Heads are split with ``view``-free ``reshape``/``permute``; the causal mask
is ``torch.triu(..., diagonal=1)`` filled with ``-inf``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn


class Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        std = (2.0 / (in_features + out_features)) ** 0.5
        nn.init.trunc_normal_(self.weight, std=std, a=-3 * std, b=3 * std)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight.T


class Embedding(nn.Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim))
        nn.init.trunc_normal_(self.weight, std=1.0, a=-3.0, b=3.0)

    def forward(self, token_ids: Tensor) -> Tensor:
        return self.weight[token_ids.long()]


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.w3 = Linear(d_model, d_ff)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(silu(self.w1(x)) * self.w3(x))


class RoPE(nn.Module):
    def __init__(self, theta: float, d_k: int, max_seq_len: int):
        super().__init__()
        freqs = theta ** (-torch.arange(0, d_k, 2).float() / d_k)
        angles = torch.arange(max_seq_len).float()[:, None] * freqs[None, :]
        self.register_buffer("cos", torch.cos(angles), persistent=False)
        self.register_buffer("sin", torch.sin(angles), persistent=False)

    def forward(self, x: Tensor, token_positions: Tensor) -> Tensor:
        cos, sin = self.cos[token_positions.long()], self.sin[token_positions.long()]
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        first, second = pairs[..., 0], pairs[..., 1]
        return torch.stack((first * cos - second * sin, first * sin + second * cos), dim=-1).flatten(-2)


def silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def softmax(x: Tensor, dim: int) -> Tensor:
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


def attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    scores = Q @ K.transpose(-1, -2) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    return softmax(scores, -1) @ V


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, max_seq_len: int | None = None, theta: float | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = Linear(d_model, d_model)
        self.k_proj = Linear(d_model, d_model)
        self.v_proj = Linear(d_model, d_model)
        self.output_proj = Linear(d_model, d_model)
        self.rope = RoPE(theta, d_model // num_heads, max_seq_len) if theta is not None else None

    def _split(self, t: Tensor) -> Tensor:  # (..., seq, d_model) -> (..., heads, seq, d_head)
        return t.reshape(*t.shape[:-1], self.num_heads, -1).transpose(-2, -3)

    def forward(self, x: Tensor, token_positions: Tensor | None = None) -> Tensor:
        seq = x.shape[-2]
        q, k, v = self._split(self.q_proj(x)), self._split(self.k_proj(x)), self._split(self.v_proj(x))
        if self.rope is not None:
            if token_positions is None:
                token_positions = torch.arange(seq, device=x.device)
            token_positions = token_positions.unsqueeze(-2)  # one row of positions for all heads
            q, k = self.rope(q, token_positions), self.rope(k, token_positions)
        future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=x.device), diagonal=1)
        out = attention(q, k, v, ~future)
        out = out.transpose(-2, -3)
        return self.output_proj(out.reshape(*out.shape[:-2], -1))


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, max_seq_len: int, theta: float):
        super().__init__()
        self.ln1 = RMSNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, num_heads, max_seq_len, theta)
        self.ln2 = RMSNorm(d_model)
        self.ffn = SwiGLU(d_model, d_ff)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class LM(nn.Module):
    def __init__(self, vocab: int, context: int, d_model: int, layers: int, heads: int, d_ff: int, theta: float):
        super().__init__()
        self.token_embeddings = Embedding(vocab, d_model)
        self.layers = nn.ModuleList([Block(d_model, heads, d_ff, context, theta) for _ in range(layers)])
        self.ln_final = RMSNorm(d_model)
        self.lm_head = Linear(d_model, vocab)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.token_embeddings(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.ln_final(x))


# ---- adapters: float32 modules, input cast in, output cast back ------------------------------------------------


def _run(module: nn.Module, state: Mapping[str, Tensor], x: Tensor, *args) -> Tensor:
    module.load_state_dict(dict(state))
    module.to(x.device)
    return module(x.to(torch.float32), *args).to(x.dtype)


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return _run(Linear(d_in, d_out), {"weight": weights}, in_features)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    embedding = Embedding(vocab_size, d_model)
    embedding.load_state_dict({"weight": weights})
    embedding.to(weights.device)
    return embedding(token_ids.to(weights.device)).to(weights.dtype)


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    state = {"w1.weight": w1_weight, "w2.weight": w2_weight, "w3.weight": w3_weight}
    return _run(SwiGLU(d_model, d_ff), state, in_features)


def run_silu(in_features: Tensor) -> Tensor:
    return silu(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return _run(RMSNorm(d_model, eps), {"weight": weights}, in_features)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    return _run(RoPE(theta, d_k, max_seq_len), {}, in_query_or_key, token_positions.to(in_query_or_key.device))


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return softmax(in_features, dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return attention(Q, K, V, mask)


def _mha_state(q: Tensor, k: Tensor, v: Tensor, o: Tensor) -> dict[str, Tensor]:
    return {"q_proj.weight": q, "k_proj.weight": k, "v_proj.weight": v, "output_proj.weight": o}


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    state = _mha_state(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return _run(MultiHeadSelfAttention(d_model, num_heads), state, in_features)


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
    state = _mha_state(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    if token_positions is not None:
        token_positions = token_positions.to(in_features.device)
    return _run(MultiHeadSelfAttention(d_model, num_heads, max_seq_len, theta), state, in_features, token_positions)


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    return _run(Block(d_model, num_heads, d_ff, max_seq_len, theta), weights, in_features)


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
    model = LM(vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta)
    model.load_state_dict(dict(weights))
    embeddings = weights["token_embeddings.weight"]
    model.to(embeddings.device)
    return model(in_indices.to(embeddings.device)).to(embeddings.dtype)


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    shifted = inputs - inputs.max(dim=-1, keepdim=True).values
    log_partition = shifted.exp().sum(-1).log()
    correct = shifted.gather(-1, targets.to(inputs.device).long()[..., None])[..., 0]
    return (log_partition - correct).mean()
