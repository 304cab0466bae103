"""Golden outputs of ``run_cross_entropy(inputs, targets)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, SEQ, VOCAB, activations
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_cross_entropy")

# A power of two keeps the scaled logits exact in every dtype (golden.inputs); 1024 tests stability like x1000.
SCALES = {"rms4": 1.0, "rms4_x1024": 1024.0}


@ALL_DTYPES
@pytest.mark.parametrize("scale", SCALES)
def test_cross_entropy_course_vocab(golden, scale, dtype):
    """Mean of logsumexp(logits) - logits[target] over (batch, seq) positions of a 10000-word vocabulary."""
    golden.adapter(
        "run_cross_entropy",
        dtype,
        inputs=activations("cross_entropy.inputs", (BATCH, SEQ, VOCAB), rms=4.0) * SCALES[scale],
        targets=integers("cross_entropy.targets", (BATCH, SEQ), VOCAB),
    )
