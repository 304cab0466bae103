"""Golden outputs of ``run_rmsnorm(d_model, eps, weights, in_features)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_MODEL, SEQ, activations, gain

pytestmark = pytest.mark.adapters("run_rmsnorm")

# RMS 300: x² overflows float16 (max 65504) unless the implementation computes in float32 as SPEC §1 requires.
SCALES = {"rms3": 3.0, "rms300": 300.0}


@ALL_DTYPES
@pytest.mark.parametrize("scale", SCALES)
def test_rmsnorm_course_shape(golden, scale, dtype):
    """x / sqrt(mean(x², -1) + eps) · g with a gain that is not 1."""
    golden.adapter(
        "run_rmsnorm",
        dtype,
        d_model=D_MODEL,
        eps=1e-5,
        weights=gain("rmsnorm.weights", D_MODEL),
        in_features=activations("rmsnorm.in_features", (BATCH, SEQ, D_MODEL), rms=SCALES[scale]),
    )
