"""Conversion between the reference and Hugging Face Llama / Qwen2 / Qwen3 checkpoints, both ways.

HF's LLaMA and Qwen models rotate feature pairs ``(k, k + d/2)`` (the "half"
RoPE layout). A reference model in the course's "interleaved" layout gets its
q/k projection rows (and biases, and q/k-norm gains) permuted per head on the
way in and back on the way out, so both compute the same function.

Nothing here needs ``transformers`` except ``hf_config`` and
``load_hf_checkpoint``'s optional safetensors reading; install the ``hf``
extra (``pip install -e '.[hf]'``) for those and for the parity tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reference.config import RopeLayout, TransformerConfig
from reference.rope import convert_rope_layout
from reference.state_dict import load_weights
from reference.transformer_lm import TransformerLM

HF_LAYOUT: RopeLayout = "half"
FAMILIES = ("llama", "qwen2", "qwen3")

# Reference key ↔ HF key, per layer ("{i}") and model-wide.
_LAYER_KEYS = {
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.q_proj.bias": "self_attn.q_proj.bias",
    "attn.k_proj.bias": "self_attn.k_proj.bias",
    "attn.v_proj.bias": "self_attn.v_proj.bias",
    "attn.output_proj.weight": "self_attn.o_proj.weight",
    "attn.q_norm.weight": "self_attn.q_norm.weight",
    "attn.k_norm.weight": "self_attn.k_norm.weight",
    "ffn.w1.weight": "mlp.gate_proj.weight",
    "ffn.w3.weight": "mlp.up_proj.weight",
    "ffn.w2.weight": "mlp.down_proj.weight",
    "ln1.weight": "input_layernorm.weight",
    "ln2.weight": "post_attention_layernorm.weight",
}
_MODEL_KEYS = {
    "token_embeddings.weight": "model.embed_tokens.weight",
    "ln_final.weight": "model.norm.weight",
    "lm_head.weight": "lm_head.weight",
}
# Rows of these carry RoPE's pairing and move with the layout.
_ROPE_ROWS = ("attn.q_proj.", "attn.k_proj.", "attn.q_norm.", "attn.k_norm.")


class ConversionError(ValueError):
    """A checkpoint or configuration cannot be converted; the message says which part and why."""


def family_of(config: TransformerConfig) -> str:
    """The HF model class a configuration maps to: Qwen3 for q/k-norm, Qwen2 for q/k/v bias, else Llama."""
    if config.position_encoding != "rope":
        raise ConversionError(
            f"HF Llama/Qwen models use RoPE; this config has position_encoding={config.position_encoding!r}"
        )
    if config.qk_norm and config.qkv_bias:
        raise ConversionError("no HF family has both q/k-norm and q/k/v bias (Qwen3 has the norm, Qwen2 the bias)")
    return "qwen3" if config.qk_norm else "qwen2" if config.qkv_bias else "llama"


def hf_config_kwargs(config: TransformerConfig) -> dict[str, Any]:
    """Keyword arguments for ``LlamaConfig`` / ``Qwen2Config`` / ``Qwen3Config`` (see ``family_of``)."""
    family = family_of(config)
    kwargs: dict[str, Any] = {
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.d_ff,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.d_head,
        "max_position_embeddings": config.context_length,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": float(config.rope_theta),
        "tie_word_embeddings": config.tie_embeddings,
        "hidden_act": "silu",
    }
    if family == "llama":
        kwargs |= {"attention_bias": False, "mlp_bias": False}
    if family == "qwen3":
        kwargs["attention_bias"] = False
    return kwargs


def hf_config(config: TransformerConfig):
    """The ``transformers`` config object for ``config`` (needs the ``hf`` extra)."""
    import transformers

    config_type = {"llama": "LlamaConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config"}[family_of(config)]
    return getattr(transformers, config_type)(**hf_config_kwargs(config))


def config_from_hf(hf: Mapping[str, Any] | Any, rope_layout: RopeLayout = "interleaved") -> TransformerConfig:
    """A ``TransformerConfig`` from an HF config object or its ``config.json`` dict.

    RoPE scaling (Llama 3.1+ "llama3", YaRN, ...) changes the rotation
    frequencies and is not modelled: such a config is refused, not silently
    converted.
    """
    values = dict(hf) if isinstance(hf, Mapping) else hf.to_dict()
    model_type = values.get("model_type")
    if model_type not in FAMILIES:
        raise ConversionError(f"model_type {model_type!r} is not one of {FAMILIES}")
    rope = values.get("rope_parameters") or values.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ConversionError(f"RoPE scaling {rope_type!r} is not modelled by the reference")
    theta = rope.get("rope_theta", values.get("rope_theta", 10000.0))
    if model_type == "llama" and (values.get("attention_bias") or values.get("mlp_bias")):
        raise ConversionError("Llama with attention_bias/mlp_bias has an o_proj/MLP bias the reference lacks")
    num_heads, d_model = values["num_attention_heads"], values["hidden_size"]
    kv_heads = values.get("num_key_value_heads") or num_heads
    head_dim = values.get("head_dim") or d_model // num_heads
    return TransformerConfig(
        vocab_size=values["vocab_size"],
        context_length=values["max_position_embeddings"],
        d_model=d_model,
        num_layers=values["num_hidden_layers"],
        num_heads=num_heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        d_ff=values["intermediate_size"],
        rope_theta=theta,
        norm_eps=values["rms_norm_eps"],
        qkv_bias=model_type == "qwen2",
        qk_norm=model_type == "qwen3",
        tie_embeddings=bool(values.get("tie_word_embeddings", False)),
        rope_layout=rope_layout,
    )


def _reference_to_hf_key(key: str) -> str:
    if key in _MODEL_KEYS:
        return _MODEL_KEYS[key]
    match = re.fullmatch(r"layers\.(\d+)\.(.+)", key)
    if not match or match.group(2) not in _LAYER_KEYS:
        raise ConversionError(f"reference key {key!r} has no HF counterpart")
    return f"model.layers.{match.group(1)}.{_LAYER_KEYS[match.group(2)]}"


_HF_TO_REFERENCE = {value: key for key, value in _LAYER_KEYS.items()}
_HF_MODEL_TO_REFERENCE = {value: key for key, value in _MODEL_KEYS.items()}


def _hf_to_reference_key(key: str) -> str:
    if key in _HF_MODEL_TO_REFERENCE:
        return _HF_MODEL_TO_REFERENCE[key]
    match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", key)
    if not match or match.group(2) not in _HF_TO_REFERENCE:
        raise ConversionError(f"HF key {key!r} has no reference counterpart")
    return f"layers.{match.group(1)}.{_HF_TO_REFERENCE[match.group(2)]}"


def _relayout(key: str, value: Tensor, config: TransformerConfig, source: RopeLayout, target: RopeLayout) -> Tensor:
    if source != target and any(marker in key for marker in _ROPE_ROWS):
        return convert_rope_layout(value, config.d_head, source, target)
    return value


def state_dict_from_hf(hf_state: Mapping[str, Tensor], config: TransformerConfig) -> dict[str, Tensor]:
    """Reference state dict (in ``config.rope_layout``) from an HF Llama/Qwen2/Qwen3 state dict."""
    converted = {}
    for hf_key, value in hf_state.items():
        if hf_key.endswith("rotary_emb.inv_freq"):  # a cache some checkpoints carry; recomputed from theta
            continue
        key = _hf_to_reference_key(hf_key)
        converted[key] = _relayout(key, value, config, HF_LAYOUT, config.rope_layout)
    return converted


def state_dict_to_hf(state: Mapping[str, Tensor], config: TransformerConfig) -> dict[str, Tensor]:
    """HF state dict (half layout) from a reference state dict in ``config.rope_layout``."""
    return {
        _reference_to_hf_key(key): _relayout(key, value, config, config.rope_layout, HF_LAYOUT)
        for key, value in state.items()
    }


def load_hf_checkpoint(
    directory: str | Path,
    rope_layout: RopeLayout = "interleaved",
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> TransformerLM:
    """A reference ``TransformerLM`` from a local HF checkpoint directory (``config.json`` + ``*.safetensors``).

    Reads only local files; nothing is downloaded.
    """
    directory = Path(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ConversionError(f"{directory} has no config.json: not an HF checkpoint directory")
    config = config_from_hf(json.loads(config_file.read_text()), rope_layout=rope_layout)
    shards = sorted(directory.glob("*.safetensors"))
    if not shards:
        raise ConversionError(f"{directory} has no *.safetensors weights")
    from safetensors.torch import load_file

    hf_state: dict[str, Tensor] = {}
    for shard in shards:
        hf_state |= load_file(shard, device="cpu")
    state = state_dict_from_hf(hf_state, config)
    dtype = dtype or next(iter(state.values())).dtype
    return load_weights(TransformerLM(config, device=device, dtype=dtype), state)
