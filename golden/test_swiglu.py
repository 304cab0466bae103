"""Golden outputs of ``run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_FF, D_MODEL, SEQ, activations, linear_weight

pytestmark = pytest.mark.adapters("run_swiglu")


@ALL_DTYPES
def test_swiglu_course_shape(golden, dtype):
    """W2 (SiLU(W1 x) ⊙ W3 x) at d_model 64, d_ff 128."""
    golden.adapter(
        "run_swiglu",
        dtype,
        d_model=D_MODEL,
        d_ff=D_FF,
        w1_weight=linear_weight("swiglu.w1", D_FF, D_MODEL),
        w2_weight=linear_weight("swiglu.w2", D_MODEL, D_FF),
        w3_weight=linear_weight("swiglu.w3", D_FF, D_MODEL),
        in_features=activations("swiglu.in_features", (BATCH, SEQ, D_MODEL)),
    )
