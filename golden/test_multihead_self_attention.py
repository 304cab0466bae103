"""Golden outputs of ``run_multihead_self_attention`` and ``run_multihead_self_attention_with_rope``."""

from __future__ import annotations

import pytest
import torch

from golden import independent
from golden.check import ALL_DTYPES
from golden.inputs import BATCH, CONTEXT, D_MODEL, HEADS, SEQ, THETA, activations, course_model, linear_weight
from golden.snapshot_files import recorded
from harness.assertions import assert_law
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_multihead_self_attention", "run_multihead_self_attention_with_rope")


def _projections() -> dict[str, torch.Tensor]:
    return {
        f"{name}_weight": linear_weight(f"mha.{name}", D_MODEL, D_MODEL)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj")
    }


def _x() -> torch.Tensor:
    return activations("mha.in_features", (BATCH, SEQ, D_MODEL))


POSITIONS = {
    "default": None,  # token_positions=None means 0 … seq-1
    "per_example": integers("mha.token_positions", (BATCH, SEQ), CONTEXT),
}


@ALL_DTYPES
def test_multihead_self_attention_course_shape(golden, dtype):
    """Causal 4-head attention without RoPE; head j uses projection rows [16j, 16j+16)."""
    golden.adapter(
        "run_multihead_self_attention", dtype, d_model=D_MODEL, num_heads=HEADS, **_projections(), in_features=_x()
    )


@ALL_DTYPES
@pytest.mark.parametrize("positions", POSITIONS)
def test_multihead_self_attention_with_rope_course_shape(golden, positions, dtype):
    """Causal 4-head attention, q and k of every head rotated by the example's positions."""
    golden.adapter(
        "run_multihead_self_attention_with_rope",
        dtype,
        d_model=D_MODEL,
        num_heads=HEADS,
        max_seq_len=CONTEXT,
        theta=THETA,
        **_projections(),
        in_features=_x(),
        token_positions=POSITIONS[positions],
    )


@pytest.mark.parametrize("positions", POSITIONS)
def test_recorded_rope_attention_matches_an_independent_float64_model(recording_only, positions):
    """Anchor: the float64 recording equals golden.independent's attention (F.sdpa, RoPE as a loop over pairs)."""
    w = _projections()
    weights = {f"{name}.weight": w[f"{name}_weight"] for name in ("q_proj", "k_proj", "v_proj")}
    weights["output_proj.weight"] = w["o_proj_weight"]
    given = POSITIONS[positions]
    expected = independent.self_attention(_x(), weights, course_model(), torch.arange(SEQ) if given is None else given)
    name = f"test_multihead_self_attention_with_rope_course_shape[{positions}-float64]"
    assert_law(recorded(__file__, name), expected, "recorded MHA with RoPE = independent float64 attention")
