"""Golden outputs of ``run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions)``."""

from __future__ import annotations

import pytest
import torch

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, CONTEXT, D_MODEL, SEQ, THETA, activations
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_rope")

POSITIONS = {
    "arange": torch.arange(SEQ),
    # A different, unsorted row per example, repeats allowed: positions are not arange.
    "per_example": integers("rope.token_positions", (BATCH, SEQ), CONTEXT),
}


@ALL_DTYPES
@pytest.mark.parametrize("positions", POSITIONS)
def test_rope_course_shape(golden, positions, dtype):
    """Pairs (2k, 2k+1) of x (batch, seq, d_k=64) rotated by p·Θ^(-2k/d_k), p from token_positions."""
    golden.adapter(
        "run_rope",
        dtype,
        d_k=D_MODEL,
        theta=THETA,
        max_seq_len=CONTEXT,
        in_query_or_key=activations("rope.in_query_or_key", (BATCH, SEQ, D_MODEL)),
        token_positions=POSITIONS[positions],
    )
