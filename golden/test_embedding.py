"""Golden outputs of ``run_embedding(vocab_size, d_model, weights, token_ids)``."""

from __future__ import annotations

import pytest

from golden.check import ALL_DTYPES
from golden.inputs import BATCH, D_MODEL, SEQ, VOCAB, weight_for
from harness.inputs import integers

pytestmark = pytest.mark.adapters("run_embedding")


@ALL_DTYPES
def test_embedding_course_shape(golden, dtype):
    """Rows of the (vocab, d_model) table for int64 ids (batch, seq)."""
    golden.adapter(
        "run_embedding",
        dtype,
        vocab_size=VOCAB,
        d_model=D_MODEL,
        weights=weight_for("embedding:token_embeddings.weight", (VOCAB, D_MODEL)),
        token_ids=integers("embedding.token_ids", (BATCH, SEQ), VOCAB),
    )
