"""Golden outputs of ``run_transformer_lm`` for the course test model (vocab 10000, d_model 64, 3 layers)."""

from __future__ import annotations

import pytest

from golden import independent
from golden.check import ALL_DTYPES
from golden.inputs import BATCH, CONTEXT, D_FF, D_MODEL, HEADS, LAYERS, LM_SEQ, THETA, VOCAB, course_model, lm_weights
from golden.snapshot_files import recorded
from harness.assertions import assert_law
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_transformer_lm")


def _arguments() -> dict[str, object]:
    return {"weights": lm_weights("lm"), "in_indices": integers("lm.in_indices", (BATCH, LM_SEQ), VOCAB)}


@ALL_DTYPES
def test_transformer_lm_course_model(golden, dtype):
    """Logits (batch, seq, vocab) of the whole course model on a sequence shorter than its context."""
    golden.adapter(
        "run_transformer_lm",
        dtype,
        vocab_size=VOCAB,
        context_length=CONTEXT,
        d_model=D_MODEL,
        num_layers=LAYERS,
        num_heads=HEADS,
        d_ff=D_FF,
        rope_theta=THETA,
        **_arguments(),
    )


def test_recorded_logits_match_an_independent_float64_model(recording_only):
    """Anchor: the float64 recording equals golden.independent's LM (torch.nn.functional, no reference code)."""
    arguments = _arguments()
    expected = independent.transformer_lm(arguments["in_indices"], arguments["weights"], course_model())
    actual = recorded(__file__, "test_transformer_lm_course_model[float64]")
    assert_law(actual, expected, "recorded course-model logits = independent float64 LM")
