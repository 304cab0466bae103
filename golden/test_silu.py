"""Golden outputs of ``run_silu(in_features)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_MODEL, SEQ, activations

pytestmark = pytest.mark.adapters("run_silu")


@ALL_DTYPES
def test_silu_course_shape(golden, dtype):
    """x·sigmoid(x) elementwise over values up to about ±5."""
    golden.adapter("run_silu", dtype, in_features=activations("silu.in_features", (BATCH, SEQ, D_MODEL), rms=3.0))
