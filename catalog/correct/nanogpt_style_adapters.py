"""nanoGPT style: fused c_attn, view/transpose heads, a registered tril buffer sliced to T, F.softmax natively.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``), shaped like Karpathy's nanoGPT:
``CausalSelfAttention`` holds one fused ``c_attn`` projection (the course's
q/k/v weights concatenated) and ``c_proj``, splits heads with
``.view(B, T, n_head, hs).transpose(1, 2)``, computes
``(q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))``, masks with a
registered ``tril`` buffer sliced to ``[:, :, :T, :T]`` and ``F.softmax``.
Everything runs in the input's own dtype (the model is built in float32 and
moved with ``.to(dtype)``; weights copied in under ``torch.no_grad()``),
except Meta-LLaMA's RMSNorm ``self._norm(x.float()).type_as(x)`` and RoPE
angles built in float32. Inputs with any leading dims, or non-contiguous,
are flattened to ``(B, T, C)`` with ``reshape`` (``view`` would fail on them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    def __init__(self, ndim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(ndim))

    def _norm(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x: Tensor) -> Tensor:
        output = self._norm(x.float()).type_as(x)
        return output * self.weight


def precompute_rope(head_size: int, block_size: int, theta: float) -> tuple[Tensor, Tensor]:
    freqs = 1.0 / (theta ** (torch.arange(0, head_size, 2)[: (head_size // 2)].float() / head_size))
    t = torch.arange(block_size).float()
    angles = torch.outer(t, freqs)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # x: (B, nh, T, hs); cos/sin: (B, 1, T, hs/2), already gathered at the positions
    xr = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = xr[..., 0], xr[..., 1]
    cos, sin = cos.type_as(x), sin.type_as(x)
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, rope_theta: float | None = None):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.n_head = n_head
        self.n_embd = n_embd
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))
        self.rope_theta = rope_theta
        if rope_theta is not None:
            cos, sin = precompute_rope(n_embd // n_head, block_size, rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        *lead, T, C = x.size()
        x = x.reshape(-1, T, C)  # (B, T, C) whatever the leading dims; reshape, not view
        B = x.size(0)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.rope_theta is not None:
            if pos is None:
                pos = torch.arange(T, device=x.device)
            pos = pos.expand(*lead, T).reshape(B, 1, T).long()
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v  # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.c_proj(y)
        return y.reshape(*lead, T, C)


class MLP(nn.Module):
    def __init__(self, n_embd: int, d_ff: int):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, d_ff, bias=False)
        self.c_gate = nn.Linear(n_embd, d_ff, bias=False)
        self.c_proj = nn.Linear(d_ff, n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.silu(self.c_fc(x)) * self.c_gate(x))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, d_ff: int, block_size: int, rope_theta: float):
        super().__init__()
        self.ln_1 = RMSNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, rope_theta)
        self.ln_2 = RMSNorm(n_embd)
        self.mlp = MLP(n_embd, d_ff)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(
        self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, d_ff: int, rope_theta: float
    ):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab_size, n_embd),
                "h": nn.ModuleList([Block(n_embd, n_head, d_ff, block_size, rope_theta) for _ in range(n_layer)]),
                "ln_f": RMSNorm(n_embd),
            }
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx: Tensor) -> Tensor:
        _, t = idx.size()
        assert t <= self.block_size, f"Cannot forward sequence of length {t}, block size is only {self.block_size}"
        x = self.transformer.wte(idx)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return self.lm_head(x)


def _load(model: nn.Module, sd_hf: Mapping[str, Tensor], like: Tensor) -> nn.Module:
    """nanoGPT's from_pretrained: build in float32, move, then copy every tensor in under no_grad."""
    model.to(device=like.device, dtype=like.dtype)
    sd = model.state_dict()
    assert set(sd_hf) == {k for k in sd if k.split(".")[-1] != "bias"}, "mismatched keys"  # skip the tril buffers
    with torch.no_grad():
        for k, v in sd_hf.items():
            assert sd[k].shape == v.shape, k
            sd[k].copy_(v)
    return model


def _block_sd(weights: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    w = {key.removeprefix(prefix): value for key, value in weights.items() if key.startswith(prefix)}
    c_attn = torch.cat([w["attn.q_proj.weight"], w["attn.k_proj.weight"], w["attn.v_proj.weight"]], dim=0)
    return {
        "ln_1.weight": w["ln1.weight"],
        "attn.c_attn.weight": c_attn,
        "attn.c_proj.weight": w["attn.output_proj.weight"],
        "ln_2.weight": w["ln2.weight"],
        "mlp.c_fc.weight": w["ffn.w1.weight"],
        "mlp.c_gate.weight": w["ffn.w3.weight"],
        "mlp.c_proj.weight": w["ffn.w2.weight"],
    }


# ---- adapters ---------------------------------------------------------------------------------------------------


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    return F.linear(in_features, weights.type_as(in_features))


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    wte = _load(nn.Embedding(vocab_size, d_model), {"weight": weights}, weights)
    return wte(token_ids.to(weights.device))


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    sd = {"c_fc.weight": w1_weight, "c_gate.weight": w3_weight, "c_proj.weight": w2_weight}
    return _load(MLP(d_model, d_ff), sd, in_features)(in_features)


def run_silu(in_features: Tensor) -> Tensor:
    return F.silu(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    return _load(RMSNorm(d_model, eps), {"weight": weights}, in_features)(in_features)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    cos, sin = precompute_rope(d_k, max_seq_len, theta)
    pos = token_positions.to(cos.device).long()
    return apply_rope(x, cos[pos].to(x.device), sin[pos].to(x.device))


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return F.softmax(in_features, dim=dim)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    att = (Q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(K.size(-1)))
    if mask is not None:
        att = att.masked_fill(mask == 0, float("-inf"))
    att = F.softmax(att, dim=-1)
    return att @ V


def _attention(d_model: int, num_heads: int, block_size: int, theta: float | None, q, k, v, o, x: Tensor):
    attn = CausalSelfAttention(d_model, num_heads, max(block_size, x.shape[-2]), theta)
    return _load(attn, {"c_attn.weight": torch.cat([q, k, v], dim=0), "c_proj.weight": o}, x)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    x = in_features
    attn = _attention(
        d_model, num_heads, x.shape[-2], None, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, x
    )
    return attn(x)


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
    attn = _attention(
        d_model, num_heads, max_seq_len, theta, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, x
    )
    return attn(x, None if token_positions is None else token_positions.to(x.device))


def run_transformer_block(
    d_model: int,
    num_heads: int,
    d_ff: int,
    max_seq_len: int,
    theta: float,
    weights: Mapping[str, Tensor],
    in_features: Tensor,
) -> Tensor:
    block = Block(d_model, num_heads, d_ff, max(max_seq_len, in_features.shape[-2]), theta)
    return _load(block, _block_sd(weights), in_features)(in_features)


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
    model = GPT(vocab_size, context_length, num_layers, num_heads, d_model, d_ff, rope_theta)
    sd = {"transformer.wte.weight": weights["token_embeddings.weight"]}
    for i in range(num_layers):
        sd |= {f"transformer.h.{i}.{k}": v for k, v in _block_sd(weights, f"layers.{i}.").items()}
    sd |= {"transformer.ln_f.weight": weights["ln_final.weight"], "lm_head.weight": weights["lm_head.weight"]}
    embeddings = weights["token_embeddings.weight"]
    return _load(model, sd, embeddings)(in_indices.to(embeddings.device))


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    logits = inputs
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.to(logits.device).reshape(-1).long())
