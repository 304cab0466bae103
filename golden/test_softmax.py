"""Golden outputs of ``run_softmax(in_features, dim)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_MODEL, SEQ, activations

pytestmark = pytest.mark.adapters("run_softmax")


@ALL_DTYPES
@pytest.mark.parametrize("dim", [-1, 1])
def test_softmax_course_shape(golden, dim, dtype):
    """exp(x - max) / Σ exp(x - max) along ``dim`` of scores with RMS 4 (rows far from uniform)."""
    golden.adapter(
        "run_softmax", dtype, in_features=activations("softmax.in_features", (BATCH, SEQ, D_MODEL), rms=4.0), dim=dim
    )
