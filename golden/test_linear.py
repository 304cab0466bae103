"""Golden outputs of ``run_linear(d_in, d_out, weights, in_features)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_FF, D_MODEL, SEQ, activations, linear_weight

pytestmark = pytest.mark.adapters("run_linear")


@ALL_DTYPES
def test_linear_course_shape(golden, dtype):
    """x Wᵀ for x (batch, seq, d_model) and W (d_ff, d_model)."""
    golden.adapter(
        "run_linear",
        dtype,
        d_in=D_MODEL,
        d_out=D_FF,
        weights=linear_weight("linear.weights", D_FF, D_MODEL),
        in_features=activations("linear.in_features", (BATCH, SEQ, D_MODEL)),
    )
