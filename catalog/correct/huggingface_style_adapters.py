"""Hugging Face Llama style: float32 RMSNorm, rotate_half RoPE on permuted q/k, float32 softmax, finfo.min mask.

An independently written correct implementation of the SPEC §4 adapter
protocol (it does not import ``reference``), structured like
``transformers``' ``modeling_llama``: ``LlamaRMSNorm`` casts the hidden states
to float32, takes the variance, multiplies by ``torch.rsqrt`` and returns
``weight * hidden_states.to(input_dtype)``; ``LlamaRotaryEmbedding`` keeps a
float32 ``cos``/``sin`` cache of ``max_seq_len`` positions (``cat((freqs,
freqs))``) indexed by ``position_ids`` and cast to the input dtype;
``apply_rotary_pos_emb`` uses ``rotate_half`` on the "half" layout, so the
course's interleaved pairs are reached by permuting q/k features (``run_rope``)
or, as HF's conversion script does, the rows of ``q_proj``/``k_proj`` per head
(attention; the permutation cancels in ``q·k``). Attention is
``eager_attention_forward``: an additive ``finfo(dtype).min`` causal mask,
``softmax(..., dtype=torch.float32)`` cast back, ``repeat_kv``. State dicts are
renamed to HF keys (``embed_tokens``, ``self_attn``, ``mlp.gate_proj`` …).
The loss is ``F.cross_entropy`` on ``logits.float()``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6, dtype=None, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size, dtype=dtype, device=device))
        self.variance_epsilon = eps

    def forward(self, hidden_states: Tensor) -> Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, dim: int, max_position_embeddings: int, base: float, device=None):
        super().__init__()
        inv_freq = 1.0 / (
            base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim)
        )
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        t = torch.arange(max_position_embeddings, device=device, dtype=torch.int64).type_as(inv_freq)
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos(), persistent=False)
        self.register_buffer("sin_cached", emb.sin(), persistent=False)

    def forward(self, x: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        return self.cos_cached[position_ids].to(dtype=x.dtype), self.sin_cached[position_ids].to(dtype=x.dtype)


def rotate_half(x: Tensor) -> Tensor:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor, unsqueeze_dim: int = 1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def interleaved_to_half(w: Tensor, n_heads: int) -> Tensor:
    """HF's ``convert_llama_weights_to_hf.permute``: per head, rows (2k, 2k+1) become rows (k, k + d/2)."""
    dim1, dim2 = w.shape
    return w.reshape(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def repeat_kv(hidden_states: Tensor, n_rep: int) -> Tensor:
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def eager_attention_forward(
    query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None, scaling: float
) -> Tensor:
    attn_weights = torch.matmul(query, key.transpose(-2, -1)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    return torch.matmul(attn_weights, value)


def _additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


class LlamaMLP(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, dtype=None, device=None):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False, dtype=dtype, device=device)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False, dtype=dtype, device=device)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False, dtype=dtype, device=device)
        self.act_fn = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaAttention(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        max_position_embeddings: int,
        rope_theta: float | None,
        dtype=None,
        device=None,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.num_key_value_heads = num_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.head_dim = hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        kwargs = {"bias": False, "dtype": dtype, "device": device}
        self.q_proj = nn.Linear(hidden_size, num_heads * self.head_dim, **kwargs)
        self.k_proj = nn.Linear(hidden_size, self.num_key_value_heads * self.head_dim, **kwargs)
        self.v_proj = nn.Linear(hidden_size, self.num_key_value_heads * self.head_dim, **kwargs)
        self.o_proj = nn.Linear(num_heads * self.head_dim, hidden_size, **kwargs)
        self.rotary_emb = None
        if rope_theta is not None:
            self.rotary_emb = LlamaRotaryEmbedding(self.head_dim, max_position_embeddings, rope_theta, device)

    def forward(self, hidden_states: Tensor, position_ids: Tensor | None) -> Tensor:
        input_shape = hidden_states.shape[:-1]
        q_len = input_shape[-1]
        hidden_states = hidden_states.reshape(-1, q_len, hidden_states.shape[-1])  # (bsz, q_len, hidden)
        bsz = hidden_states.shape[0]
        hidden_shape = (bsz, q_len, -1, self.head_dim)
        query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        if self.rotary_emb is not None:
            position_ids = position_ids.expand(input_shape).reshape(bsz, q_len)
            cos, sin = self.rotary_emb(value_states, position_ids)
            query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
        key_states = repeat_kv(key_states, self.num_key_value_groups)
        value_states = repeat_kv(value_states, self.num_key_value_groups)
        causal = torch.ones(q_len, q_len, dtype=torch.bool, device=hidden_states.device).tril()
        attention_mask = _additive_mask(causal, query_states.dtype)[None, None]
        attn_output = eager_attention_forward(query_states, key_states, value_states, attention_mask, self.scaling)
        attn_output = attn_output.transpose(1, 2).contiguous().reshape(*input_shape, -1)
        return self.o_proj(attn_output)


class LlamaDecoderLayer(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        max_position_embeddings: int,
        rope_theta: float,
        rms_norm_eps: float,
        dtype=None,
        device=None,
    ):
        super().__init__()
        self.self_attn = LlamaAttention(hidden_size, num_heads, max_position_embeddings, rope_theta, dtype, device)
        self.mlp = LlamaMLP(hidden_size, intermediate_size, dtype, device)
        self.input_layernorm = LlamaRMSNorm(hidden_size, rms_norm_eps, dtype, device)
        self.post_attention_layernorm = LlamaRMSNorm(hidden_size, rms_norm_eps, dtype, device)

    def forward(self, hidden_states: Tensor, position_ids: Tensor) -> Tensor:
        residual = hidden_states
        hidden_states = self.self_attn(self.input_layernorm(hidden_states), position_ids)
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.mlp(self.post_attention_layernorm(hidden_states))
        return residual + hidden_states


class LlamaForCausalLM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_hidden_layers: int,
        num_heads: int,
        intermediate_size: int,
        max_position_embeddings: int,
        rope_theta: float,
        rms_norm_eps: float,
        dtype=None,
        device=None,
    ):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size, dtype=dtype, device=device)
        self.layers = nn.ModuleList(
            LlamaDecoderLayer(
                hidden_size,
                num_heads,
                intermediate_size,
                max_position_embeddings,
                rope_theta,
                rms_norm_eps,
                dtype,
                device,
            )
            for _ in range(num_hidden_layers)
        )
        self.norm = LlamaRMSNorm(hidden_size, rms_norm_eps, dtype, device)
        self.lm_head = nn.Linear(hidden_size, vocab_size, bias=False, dtype=dtype, device=device)

    def forward(self, input_ids: Tensor) -> Tensor:
        hidden_states = self.embed_tokens(input_ids)
        position_ids = torch.arange(input_ids.shape[-1], device=input_ids.device).unsqueeze(0)
        for decoder_layer in self.layers:
            hidden_states = decoder_layer(hidden_states, position_ids)
        return self.lm_head(self.norm(hidden_states))


# ---- course state dicts -> HF names (q/k rows permuted into the half layout) ------------------------------------

_LAYER_KEYS = {
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.output_proj.weight": "self_attn.o_proj.weight",
    "ln1.weight": "input_layernorm.weight",
    "ln2.weight": "post_attention_layernorm.weight",
    "ffn.w1.weight": "mlp.gate_proj.weight",
    "ffn.w2.weight": "mlp.down_proj.weight",
    "ffn.w3.weight": "mlp.up_proj.weight",
}


def _layer_to_hf(weights: Mapping[str, Tensor], num_heads: int, rope: bool) -> dict[str, Tensor]:
    state = {_LAYER_KEYS[key]: value for key, value in weights.items()}
    if rope:
        for name in ("self_attn.q_proj.weight", "self_attn.k_proj.weight"):
            state[name] = interleaved_to_half(state[name], num_heads)
    return state


def _lm_to_hf(weights: Mapping[str, Tensor], num_layers: int, num_heads: int) -> dict[str, Tensor]:
    state = {
        "embed_tokens.weight": weights["token_embeddings.weight"],
        "norm.weight": weights["ln_final.weight"],
        "lm_head.weight": weights["lm_head.weight"],
    }
    for i in range(num_layers):
        prefix = f"layers.{i}."
        layer = {key[len(prefix) :]: value for key, value in weights.items() if key.startswith(prefix)}
        state |= {prefix + key: value for key, value in _layer_to_hf(layer, num_heads, rope=True).items()}
    return state


# ---- adapters ---------------------------------------------------------------------------------------------------


def run_linear(d_in: int, d_out: int, weights: Tensor, in_features: Tensor) -> Tensor:
    linear = nn.Linear(d_in, d_out, bias=False, dtype=in_features.dtype, device=in_features.device)
    linear.load_state_dict({"weight": weights})
    return linear(in_features)


def run_embedding(vocab_size: int, d_model: int, weights: Tensor, token_ids: Tensor) -> Tensor:
    embed_tokens = nn.Embedding(vocab_size, d_model, dtype=weights.dtype, device=weights.device)
    embed_tokens.load_state_dict({"weight": weights})
    return embed_tokens(token_ids.to(weights.device))


def run_swiglu(
    d_model: int, d_ff: int, w1_weight: Tensor, w2_weight: Tensor, w3_weight: Tensor, in_features: Tensor
) -> Tensor:
    mlp = LlamaMLP(d_model, d_ff, dtype=in_features.dtype, device=in_features.device)
    mlp.load_state_dict({"gate_proj.weight": w1_weight, "down_proj.weight": w2_weight, "up_proj.weight": w3_weight})
    return mlp(in_features)


def run_silu(in_features: Tensor) -> Tensor:
    return nn.SiLU()(in_features)


def run_rmsnorm(d_model: int, eps: float, weights: Tensor, in_features: Tensor) -> Tensor:
    norm = LlamaRMSNorm(d_model, eps, dtype=in_features.dtype, device=in_features.device)
    norm.load_state_dict({"weight": weights})
    return norm(in_features)


def run_rope(d_k: int, theta: float, max_seq_len: int, in_query_or_key: Tensor, token_positions: Tensor) -> Tensor:
    x = in_query_or_key
    rotary_emb = LlamaRotaryEmbedding(d_k, max_seq_len, theta, device=x.device)
    cos, sin = rotary_emb(x, token_positions.to(x.device))
    half = torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1)  # interleaved pairs -> (k, k + d/2)
    rotated = half * cos + rotate_half(half) * sin
    return rotated.unflatten(-1, (2, d_k // 2)).transpose(-1, -2).flatten(-2)  # back to interleaved


def run_softmax(in_features: Tensor, dim: int) -> Tensor:
    return nn.functional.softmax(in_features, dim=dim, dtype=torch.float32).to(in_features.dtype)


def run_scaled_dot_product_attention(Q: Tensor, K: Tensor, V: Tensor, mask: Tensor | None = None) -> Tensor:
    attention_mask = None if mask is None else _additive_mask(mask.to(Q.device), Q.dtype)
    return eager_attention_forward(Q, K, V, attention_mask, Q.shape[-1] ** -0.5)


def run_multihead_self_attention(
    d_model: int,
    num_heads: int,
    q_proj_weight: Tensor,
    k_proj_weight: Tensor,
    v_proj_weight: Tensor,
    o_proj_weight: Tensor,
    in_features: Tensor,
) -> Tensor:
    attn = LlamaAttention(d_model, num_heads, 0, None, dtype=in_features.dtype, device=in_features.device)
    course = {"attn.q_proj.weight": q_proj_weight, "attn.k_proj.weight": k_proj_weight}
    course |= {"attn.v_proj.weight": v_proj_weight, "attn.output_proj.weight": o_proj_weight}
    hf = _layer_to_hf(course, num_heads, rope=False)
    attn.load_state_dict({key.removeprefix("self_attn."): value for key, value in hf.items()})
    return attn(in_features, None)


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
    attn = LlamaAttention(d_model, num_heads, max_seq_len, theta, dtype=x.dtype, device=x.device)
    course = {"attn.q_proj.weight": q_proj_weight, "attn.k_proj.weight": k_proj_weight}
    course |= {"attn.v_proj.weight": v_proj_weight, "attn.output_proj.weight": o_proj_weight}
    hf = _layer_to_hf(course, num_heads, rope=True)
    attn.load_state_dict({key.removeprefix("self_attn."): value for key, value in hf.items()})
    if token_positions is None:
        token_positions = torch.arange(x.shape[-2], device=x.device)
    return attn(x, token_positions.to(x.device))


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
    layer = LlamaDecoderLayer(d_model, num_heads, d_ff, max_seq_len, theta, 1e-5, dtype=x.dtype, device=x.device)
    layer.load_state_dict(_layer_to_hf(weights, num_heads, rope=True))
    return layer(x, torch.arange(x.shape[-2], device=x.device))


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
    model = LlamaForCausalLM(
        vocab_size,
        d_model,
        num_layers,
        num_heads,
        d_ff,
        context_length,
        rope_theta,
        1e-5,
        dtype=embeddings.dtype,
        device=embeddings.device,
    )
    model.load_state_dict(_lm_to_hf(weights, num_layers, num_heads))
    return model(in_indices.to(embeddings.device))


def run_cross_entropy(inputs: Tensor, targets: Tensor) -> Tensor:
    logits = inputs.float()
    vocab_size = logits.shape[-1]
    loss = F.cross_entropy(
        logits.reshape(-1, vocab_size), targets.to(logits.device).reshape(-1).long(), ignore_index=-100
    )
    return loss.to(inputs.dtype)
