"""Golden outputs of ``run_scaled_dot_product_attention(Q, K, V, mask=None)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_HEAD, HEADS, SEQ, activations
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_scaled_dot_product_attention")

QUERIES = 12  # fewer queries than keys, as in the course's test


def _mask():
    """Random (batch, heads, queries, keys) mask, True = may attend; key 0 is always allowed (no empty row)."""
    mask = integers("sdpa.mask", (BATCH, HEADS, QUERIES, SEQ), 2).bool()
    mask[..., 0] = True
    return mask


@ALL_DTYPES
@pytest.mark.parametrize("masked", [True, False], ids=["mask", "no_mask"])
def test_scaled_dot_product_attention_course_shape(golden, masked, dtype):
    """softmax(QKᵀ/√d_k + M) V over (batch, heads) with Q, K of RMS 2; mask=None attends to every key."""
    golden.adapter(
        "run_scaled_dot_product_attention",
        dtype,
        Q=activations("sdpa.Q", (BATCH, HEADS, QUERIES, D_HEAD), rms=2.0),
        K=activations("sdpa.K", (BATCH, HEADS, SEQ, D_HEAD), rms=2.0),
        V=activations("sdpa.V", (BATCH, HEADS, SEQ, D_HEAD)),
        mask=_mask() if masked else None,
    )
