"""Golden outputs of the SPEC §2 variants, through the reference's own modules and functions.

The adapter protocol has no entry point for them, so under ``--impl`` these skip (``reference_only``);
on ``--device cuda`` the reference is compared with the CPU recording. Each variant is one small
configuration of ``TransformerConfig`` (vocab 256, d_model 32, 2 layers, 4 heads) and every recorded
float64 logit tensor is cross-checked against ``golden.independent``.
"""

from __future__ import annotations

import pytest
import torch

import reference as R
from golden import independent
from golden.check import ALL_DTYPES
from golden.inputs import BATCH, SEQ, THETA, activations, module_weights
from golden.snapshot_files import recorded
from harness.assertions import assert_law
from harness.inputs import integers

SMALL = R.TransformerConfig(vocab_size=256, context_length=16, d_model=32, num_layers=2, num_heads=4, d_ff=64)
VARIANTS = {
    "gqa": SMALL.replace(num_kv_heads=2),
    "mqa": SMALL.replace(num_kv_heads=1),
    "qkv_bias": SMALL.replace(qkv_bias=True),
    "qk_norm_head_dim": SMALL.replace(qk_norm=True, head_dim=16, norm_eps=1e-6),  # 4 heads × 16 = 64 ≠ d_model
    "rope_half": SMALL.replace(rope_layout="half"),
    "tied_embeddings": SMALL.replace(tie_embeddings=True),
    "sinusoidal": SMALL.replace(position_encoding="sinusoidal"),
    "qwen3_like": SMALL.replace(
        num_kv_heads=2, head_dim=16, qk_norm=True, norm_eps=1e-6, rope_layout="half", tie_embeddings=True
    ),
}
VARIANT_SEQ = 8


def _arguments(variant: str) -> dict[str, object]:
    config = VARIANTS[variant]
    return {
        "token_ids": integers(f"variant.{variant}.token_ids", (BATCH, VARIANT_SEQ), config.vocab_size),
        "weights": module_weights(f"variant.{variant}", R.TransformerLM(config)),
        "config": config,
    }


@ALL_DTYPES
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_lm(golden, reference_only, variant, dtype):
    """Logits (batch, seq, vocab) of R.transformer_lm for one configuration per variant."""
    golden.function(
        R.transformer_lm, dtype, law=f"TransformerLM[{variant}] matches its recording", **_arguments(variant)
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_recorded_variant_logits_match_an_independent_float64_model(recording_only, variant):
    """Anchor: each float64 recording equals golden.independent's LM for that configuration."""
    arguments = _arguments(variant)
    expected = independent.transformer_lm(arguments["token_ids"], arguments["weights"], arguments["config"])
    actual = recorded(__file__, f"test_variant_lm[{variant}-float64]")
    assert_law(actual, expected, f"recorded {variant} logits = independent float64 LM")


@ALL_DTYPES
@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_rope_layout(golden, reference_only, layout, dtype):
    """R.rope in each layout at unsorted positions up to 1000 (no cache) with d_k 16."""
    golden.function(
        R.rope,
        dtype,
        law=f"R.rope layout={layout} matches its recording",
        x=activations("variant.rope.x", (BATCH, 4, SEQ, 16)),
        token_positions=integers("variant.rope.positions", (BATCH, 1, SEQ), 1000),
        theta=THETA,
        layout=layout,
    )


def test_sinusoidal_positions(golden, reference_only):
    """R.sinusoidal_positions at unsorted positions up to 4096, d_model 64 (always float64)."""
    golden.function(
        R.sinusoidal_positions,
        torch.float64,
        law="R.sinusoidal_positions matches its recording",
        token_positions=integers("variant.sinusoidal.positions", (BATCH, SEQ), 4096),
        d_model=64,
    )


@ALL_DTYPES
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_softmax_with_temperature(golden, reference_only, temperature, dtype):
    """p_T ∝ p^(1/T) over the last dimension of logits with RMS 4."""
    golden.function(
        R.softmax_with_temperature,
        dtype,
        law=f"R.softmax_with_temperature(T={temperature}) matches its recording",
        logits=activations("variant.temperature.logits", (BATCH, SEQ, 64), rms=4.0),
        temperature=temperature,
    )
