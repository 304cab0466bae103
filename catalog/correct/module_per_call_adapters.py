"""Module per call: every adapter builds a fresh nn.Module stack on the meta device and load_state_dict(assign=True).

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``) in the way the course's own
adapters are meant to be filled in, with the modern loading idiom of
torchtune and ``transformers``: each ``run_*`` constructs the component's
module under ``torch.device("meta")`` (no allocation, no initialisation) and
loads the caller's tensors with ``load_state_dict(state, strict=True,
assign=True)``, so the parameters *are* the given weights (their dtype and
device). Non-parameter state cannot live on the meta device, so RoPE's cos/sin
table is built lazily on the first forward, from float64 angles, on the
input's device, and the causal mask is an additive ``triu(-inf, 1)`` made per
call. Heads are split with ``einops.rearrange``; layers sit in an
``nn.ModuleList`` and the feed-forward in an ``nn.ModuleDict``. RMSNorm,
RoPE and softmax compute in ``promote_types(dtype, float32)``; the rest in the
input dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from einops import rearrange
from torch import Tensor, nn


def _wide(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class Linear(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))

    def forward(self, x: Tensor) -> Tensor:
        return torch.matmul(x, self.weight.to(x.dtype).transpose(-1, -2))


class Embedding(nn.Module):
    def __init__(self, vocab_size: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))

    def forward(self, ids: Tensor) -> Tensor:
        return self.weight[ids.long()]


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(d_model))

    def forward(self, x: Tensor) -> Tensor:
        wide = x.to(_wide(x.dtype))
        rms = wide.pow(2).mean(-1, keepdim=True).add(self.eps).sqrt()
        return (wide / rms * self.weight.to(wide.dtype)).to(x.dtype)


class SiLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w1, self.w2, self.w3 = Linear(d_model, d_ff), Linear(d_ff, d_model), Linear(d_model, d_ff)
        self.act = SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.act(self.w1(x)) * self.w3(x))


class RoPE(nn.Module):
    """No parameters and no buffers: the (max_seq_len, d_k/2) table is made on first use, on the input's device."""

    def __init__(self, theta: float, d_k: int, max_seq_len: int):
        super().__init__()
        self.theta, self.d_k, self.max_seq_len = theta, d_k, max_seq_len
        self._table: tuple[Tensor, Tensor] | None = None

    def _cos_sin(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        if self._table is None or self._table[0].device != device:
            k = torch.arange(self.d_k // 2, dtype=torch.float64, device=device)
            angles = torch.arange(self.max_seq_len, dtype=torch.float64, device=device)[:, None] * self.theta ** (
                -2 * k / self.d_k
            )
            self._table = (angles.cos(), angles.sin())
        cos, sin = self._table
        return cos.to(dtype), sin.to(dtype)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        dtype = _wide(x.dtype)
        cos, sin = self._cos_sin(x.device, dtype)
        cos, sin = cos[positions.long()], sin[positions.long()]
        pairs = rearrange(x.to(dtype), "... (half two) -> ... half two", two=2)
        a, b = pairs.unbind(-1)
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
        return rearrange(out, "... half two -> ... (half two)").to(x.dtype)


def softmax(x: Tensor, dim: int) -> Tensor:
    wide = x.to(_wide(x.dtype))
    shifted = wide - wide.max(dim=dim, keepdim=True).values
    return (shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)).to(x.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, additive_mask: Tensor | None = None) -> Tensor:
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if additive_mask is not None:
        scores = scores + additive_mask
    return torch.matmul(softmax(scores, -1), v)


def additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask.logical_not(), -math.inf)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, rope: RoPE | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj, self.k_proj = Linear(d_model, d_model), Linear(d_model, d_model)
        self.v_proj, self.output_proj = Linear(d_model, d_model), Linear(d_model, d_model)
        self.rope = rope

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        seq = x.shape[-2]
        q, k, v = (
            rearrange(p(x), "... s (h d) -> ... h s d", h=self.num_heads)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        if self.rope is not None:
            positions = torch.arange(seq, device=x.device) if positions is None else positions
            positions = rearrange(positions, "... s -> ... 1 s")
            q, k = self.rope(q, positions), self.rope(k, positions)
        future = torch.full((seq, seq), -math.inf, dtype=q.dtype, device=x.device).triu(1)
        out = attention(q, k, v, future)
        return self.output_proj(rearrange(out, "... h s d -> ... s (h d)"))


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, max_seq_len: int, theta: float):
        super().__init__()
        self.ln1 = RMSNorm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads, RoPE(theta, d_model // num_heads, max_seq_len))
        self.ln2 = RMSNorm(d_model)
        self.ffn = SwiGLU(d_model, d_ff)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class TransformerLM(nn.Module):
    def __init__(self, vocab: int, context: int, d_model: int, layers: int, heads: int, d_ff: int, theta: float):
        super().__init__()
        self.token_embeddings = Embedding(vocab, d_model)
        self.layers = nn.ModuleList(Block(d_model, heads, d_ff, context, theta) for _ in range(layers))
        self.ln_final = RMSNorm(d_model)
        self.lm_head = Linear(d_model, vocab)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.token_embeddings(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.ln_final(x))


def build(factory: Callable[..., nn.Module], *args, state: Mapping[str, Tensor]) -> nn.Module:
    """A fresh module on the meta device whose parameters become the given tensors (strict: no key missing)."""
    with torch.device("meta"):
        module = factory(*args)
    module.load_state_dict(dict(state), strict=True, assign=True)
    return module


# ---- adapters ---------------------------------------------------------------------------------------------------


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return build(Linear, d_in, d_out, state={"weight": weights})(in_features)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    return build(Embedding, vocab_size, d_model, state={"weight": weights})(token_ids.to(weights.device))


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    state = {"w1.weight": w1_weight, "w2.weight": w2_weight, "w3.weight": w3_weight}
    return build(SwiGLU, d_model, d_ff, state=state)(in_features)


def run_silu(in_features: Tensor) -> Tensor:
    return SiLU()(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return build(RMSNorm, d_model, eps, state={"weight": weights})(in_features)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    rope = build(RoPE, theta, d_k, max_seq_len, state={})
    return rope(in_query_or_key, token_positions.to(in_query_or_key.device))


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return softmax(in_features, dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    return attention(Q, K, V, None if mask is None else additive(mask.to(Q.device), Q.dtype))


def _projections(q: Tensor, k: Tensor, v: Tensor, o: Tensor) -> dict[str, Tensor]:
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
    state = _projections(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    return build(CausalSelfAttention, d_model, num_heads, state=state)(in_features)


def _rope_attention(d_model: int, num_heads: int, max_seq_len: int, theta: float) -> CausalSelfAttention:
    return CausalSelfAttention(d_model, num_heads, RoPE(theta, d_model // num_heads, max_seq_len))


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
    state = _projections(q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
    attn = build(_rope_attention, d_model, num_heads, max_seq_len, theta, state=state)
    return attn(in_features, None if token_positions is None else token_positions.to(in_features.device))


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    return build(Block, d_model, num_heads, d_ff, max_seq_len, theta, state=weights)(in_features)


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
    model = build(
        TransformerLM, vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, state=weights
    )
    return model(in_indices.to(weights["token_embeddings.weight"].device))


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    log_probs = inputs - torch.logsumexp(inputs, dim=-1, keepdim=True)
    return -log_probs.gather(-1, targets.to(inputs.device).long().unsqueeze(-1)).mean()
