"""Properties of ``run_embedding(vocab_size, d_model, weights, token_ids)``: row ``id`` of ``W (vocab, d_model)``.

Ids are int32 or int64 with zero to three dims; the
output has the weights' dtype. A lookup copies values, so every law is exact.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor
from harness.differential import DTYPES, agrees, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, make_ids, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, INDEX_DTYPES, floats, secondary_settings, seeds, shapes, token_ids

pytestmark = pytest.mark.adapters("run_embedding")

EXACT = Tolerance(0.0, 0.0, "exact: a lookup copies values")


def _problem(data: st.DataObject, dtype, device, *, min_lead_dims: int = 0):
    """``(vocab, d_model, W, ids, seed)``: ids int32 or int64 with zero to three dims, all from one drawn seed."""
    vocab = data.draw(st.integers(1, 32), label="vocab")
    d_model = data.draw(st.integers(1, 8), label="d_model")
    lead = data.draw(shapes(min_lead_dims, 3, 4), label="ids shape")
    seed = data.draw(seeds(), label="seed")
    index_dtype = data.draw(st.sampled_from(INDEX_DTYPES), label="ids dtype")
    weight = make_tensor(seed, (vocab, d_model), dtype, device)
    return vocab, d_model, weight, make_ids(seed + 1, lead, vocab, index_dtype, device), seed


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_one_hot_equivalence(implementation, device, dtype, data):
    """Embedding(ids) = one_hot(ids, vocab) @ W: row ``id`` of W for each id, ids 0 and vocab − 1 included."""
    vocab, d_model, weight, ids, _ = _problem(data, dtype, device)
    if ids.dim() > 0:  # make sure both ends of the vocabulary are looked up
        ids = ids.clone()
        ids.view(-1)[0], ids.view(-1)[-1] = 0, vocab - 1
    one_hot = torch.nn.functional.one_hot(ids.to("cpu", torch.long), vocab).to(torch.float64)
    assert_law(
        implementation("run_embedding")(vocab, d_model, weight, ids),
        one_hot @ weight.to("cpu", torch.float64),
        "Embedding(ids) == one_hot(ids) @ W",
        tol=EXACT,
        inputs={"weight": weight, "ids": ids},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_relabelling_invariance(implementation, device, dtype, data):
    """Embedding(W[p], p⁻¹(ids)) = Embedding(W, ids) for any permutation p of the vocabulary: only which row an id
    names matters, not where the rows are stored."""
    embedding = implementation("run_embedding")
    vocab, d_model, weight, ids, seed = _problem(data, dtype, device)
    p = torch.randperm(vocab, generator=torch.Generator().manual_seed(seed + 2)).to(device)
    inverse = torch.empty_like(p)
    inverse[p] = torch.arange(vocab, device=device)
    relabelled = inverse[ids.long()].to(ids.dtype)
    assert_law(
        embedding(vocab, d_model, weight[p], relabelled),
        embedding(vocab, d_model, weight, ids),
        "Embedding(W[p], p^-1(ids)) == Embedding(W, ids)",
        tol=EXACT,
        inputs={"weight": weight, "ids": ids, "p": p},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), c=st.sampled_from([-1.0, 2.0, 0.5, -4.0]))
def test_linear_in_weights(implementation, device, dtype, data, c):
    """Embedding with weights c·W₁ + W₂ is c·Embedding(W₁) + Embedding(W₂): rows are copied, never mixed.

    The weights lie on a grid of 1/8 with |W| ≤ 4 and c is a power of two, so every sum is exact in every dtype.
    """
    embedding = implementation("run_embedding")
    vocab, d_model, _, ids, seed = _problem(data, dtype, device)
    w1 = make_tensor(seed + 2, (vocab, d_model), dtype, device, grid=0.125).clamp(-4, 4)
    w2 = make_tensor(seed + 3, (vocab, d_model), dtype, device, grid=0.125).clamp(-4, 4)
    on_w1, on_w2 = (embedding(vocab, d_model, w, ids).to(torch.float64) for w in (w1, w2))
    expected = c * on_w1 + on_w2
    assert_law(
        embedding(vocab, d_model, c * w1 + w2, ids),
        expected,
        f"Embedding({c:g}·W1 + W2) == {c:g}·Embedding(W1) + Embedding(W2)",
        tol=EXACT,
        inputs={"W1": w1, "W2": w2, "ids": ids},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """Embedding of int32 or int64 ids of shape (b1, b2[, b3]) is (..., d_model) in W's dtype and device, with the
    value of contiguous int64 ids whatever the layout of ids and W.

    The layouts: contiguous; every other element of a wider buffer; dims stored in reverse, so that ``.view`` cannot
    merge the leading dims.

    Zero and one dims of ids: test_one_hot_equivalence checks the shape there.
    """
    embedding = implementation("run_embedding")
    vocab, d_model, weight, ids, _ = _problem(data, dtype, device, min_lead_dims=2)
    index_dtype = ids.dtype
    ids_in, weight_in = with_layout(ids, layout), with_layout(weight, layout)
    inputs = {"weight": weight_in, "ids": ids_in, "layout": layout}
    out = embedding(vocab, d_model, weight_in, ids_in)
    shape = (*ids.shape, d_model)
    assert_tensor(
        out, "Embedding returns (..., d_model) in W's dtype", shape=shape, dtype=dtype, device=device, inputs=inputs
    )
    assert_law(
        out,
        embedding(vocab, d_model, weight, ids.to(torch.int64)),
        f"Embedding({layout} {index_dtype} ids and W) == Embedding(contiguous int64)",
        tol=EXACT,
        inputs=inputs,
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_embedding``, drawn (shared by the differential, gradient and side-effect checks)."""
    vocab, d_model = data.draw(st.integers(1, 12), label="vocab_size"), data.draw(st.integers(1, 8), label="d_model")
    ids_shape = data.draw(shapes(min_dims=0, max_dims=3, max_side=4), label="token_ids shape")
    arguments = {
        "vocab_size": vocab,
        "d_model": d_model,
        "weights": floats(data, (vocab, d_model), dtype, device, "weights"),
        "token_ids": data.draw(token_ids(ids_shape, vocab, device=device), label="token_ids"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_embedding(vocab, d_model, W, ids) = W[ids] for int32/int64 ids of any shape."""
    agrees(implementation, "run_embedding", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_embedding", _arguments(data, dtype, device))
