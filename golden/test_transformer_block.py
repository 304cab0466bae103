"""Golden outputs of ``run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features)``."""

from __future__ import annotations

import pytest
import torch

from golden import independent
from golden.check import ALL_DTYPES
from golden.inputs import BATCH, CONTEXT, D_FF, D_MODEL, HEADS, SEQ, THETA, activations, block_weights, course_model
from golden.snapshot_files import recorded
from harness.assertions import assert_law

pytestmark = pytest.mark.adapters("run_transformer_block")


def _arguments() -> dict[str, object]:
    return {"weights": block_weights("block"), "in_features": activations("block.in_features", (BATCH, SEQ, D_MODEL))}


@ALL_DTYPES
def test_transformer_block_course_shape(golden, dtype):
    """x + MHA(RMSNorm₁(x)) with RoPE at 0 … seq-1, then + SwiGLU(RMSNorm₂(·)), over a full context of 16."""
    golden.adapter(
        "run_transformer_block",
        dtype,
        d_model=D_MODEL,
        num_heads=HEADS,
        d_ff=D_FF,
        max_seq_len=CONTEXT,
        theta=THETA,
        **_arguments(),
    )


def test_recorded_block_matches_an_independent_float64_model(recording_only):
    """Anchor: the float64 recording equals golden.independent's block (torch.nn.functional, no reference code)."""
    arguments = _arguments()
    expected = independent.transformer_block(
        arguments["in_features"], arguments["weights"], course_model(), torch.arange(SEQ)
    )
    actual = recorded(__file__, "test_transformer_block_course_shape[float64]")
    assert_law(actual, expected, "recorded transformer block = independent float64 block")
