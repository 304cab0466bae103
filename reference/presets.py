"""Shapes of the model families the course dissects (SPEC §2); no weights."""

from __future__ import annotations

from reference.config import TransformerConfig


def _gpt2(d_model: int, num_layers: int, num_heads: int) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=50257,
        context_length=1024,
        d_model=d_model,
        num_layers=num_layers,
        num_heads=num_heads,
        d_ff=4 * d_model,
        rope_theta=10000.0,
    )


PRESETS: dict[str, TransformerConfig] = {
    "course-test": TransformerConfig(
        vocab_size=10000, context_length=16, d_model=64, num_layers=3, num_heads=4, d_ff=128, rope_theta=10000.0
    ),
    # Llama 3.2 also rescales RoPE frequencies for long context ("llama3" rope_scaling); not modelled here.
    "llama-3.2-1b": TransformerConfig(
        vocab_size=128256,
        context_length=131072,
        d_model=2048,
        num_layers=16,
        num_heads=32,
        num_kv_heads=8,
        head_dim=64,
        d_ff=8192,
        norm_eps=1e-5,
        rope_theta=500000.0,
        rope_layout="half",
        tie_embeddings=True,
    ),
    "qwen2-style": TransformerConfig(
        vocab_size=151936,
        context_length=32768,
        d_model=2048,
        num_layers=16,
        num_heads=32,
        num_kv_heads=32,
        head_dim=64,
        d_ff=11008,
        norm_eps=1e-6,
        rope_theta=10000.0,
        rope_layout="half",
        qkv_bias=True,
    ),
    "qwen3-0.6b": TransformerConfig(
        vocab_size=151936,
        context_length=40960,
        d_model=1024,
        num_layers=28,
        num_heads=16,
        num_kv_heads=8,
        head_dim=128,
        d_ff=3072,
        norm_eps=1e-6,
        rope_theta=1000000.0,
        rope_layout="half",
        qk_norm=True,
        tie_embeddings=True,
    ),
    "gpt2-small": _gpt2(768, 12, 12),
    "gpt2-medium": _gpt2(1024, 24, 16),
    "gpt2-large": _gpt2(1280, 36, 20),
    "gpt2-xl": _gpt2(1600, 48, 25),
}


def preset(name: str) -> TransformerConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
