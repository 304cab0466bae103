"""Properties of ``run_cross_entropy(inputs, targets)``.

``inputs`` are unnormalised logits ``(..., vocab)`` with zero, one or two
leading dims, ``targets`` integer ids ``(...)`` in int32 or int64; the result is
the 0-dim mean over positions of ``logsumexp(logits) − logits[target]`` in the
logits' dtype (SPEC §1, §4).

Cross-entropy is a difference of two numbers as large as the largest logit, so
an implementation that is backward stable in the dtype (a max-subtracted
logsumexp computed in float16, say) errs by up to ``eps · max|logit|``: that
is added to the dtype's default tolerance wherever the expectation is a float64
computation on the same logits, and the ±1000 shifts are judged the same way.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, exact_grid, make_ids, make_tensor, with_layout
from harness.strategies import (
    ALL_FLOATS,
    INDEX_DTYPES,
    WIDE_FLOATS,
    floats,
    secondary_settings,
    seeds,
    shapes,
    token_ids,
)

pytestmark = pytest.mark.adapters("run_cross_entropy")


def _tolerance(dtype: torch.dtype, *logits: torch.Tensor) -> Tolerance:
    """The dtype's default plus eps · max|logit|: the conditioning of logsumexp(x) − x[t] at the logits' magnitude."""
    default = tolerance(dtype)
    largest = max(float(t.detach().abs().max()) for t in logits)
    extra = torch.finfo(dtype).eps * largest
    return Tolerance(default.rtol, default.atol + extra, f"{dtype} default + eps·max|logit| = {extra:.3g}")


def _problem(data: st.DataObject, dtype, device, *, min_lead_dims: int = 0, scale: float = 3.0, grid=None):
    """``(logits, targets, seed)``: logits (..., vocab) and int32 or int64 targets (...) from one drawn seed."""
    lead = data.draw(shapes(min_lead_dims, 2, 3), label="leading dims")
    vocab = data.draw(st.integers(1, 32), label="vocab")
    seed = data.draw(seeds(), label="seed")
    index_dtype = data.draw(st.sampled_from(INDEX_DTYPES), label="targets dtype")
    logits = make_tensor(seed, (*lead, vocab), dtype, device, scale=scale, grid=grid)
    return logits, make_ids(seed + 1, lead, vocab, index_dtype, device), seed


def _negative_log_likelihood(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of −log softmax(logits)[target] in float64, by torch.log_softmax on the logits as given."""
    log_probs = torch.log_softmax(logits.detach().to("cpu", torch.float64), dim=-1)
    return -log_probs.gather(-1, targets.to("cpu", torch.long).unsqueeze(-1)).mean()


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_equals_negative_log_softmax_at_target(implementation, device, dtype, data):
    """CE(x, t) = mean over positions of −log softmax(x)[t], judged against float64 on the same logits."""
    logits, targets, _ = _problem(data, dtype, device)
    loss = implementation("run_cross_entropy")(logits, targets)
    inputs = {"logits": logits, "targets": targets}
    assert_tensor(loss, "cross-entropy is a 0-dim tensor of the logits' dtype", shape=(), dtype=dtype, inputs=inputs)
    assert_law(
        loss,
        _negative_log_likelihood(logits, targets),
        "CE(x, t) == mean(-log softmax(x)[t])",
        tol=_tolerance(dtype, logits),
        inputs=inputs,
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_mean_over_positions(implementation, device, dtype, data):
    """CE of a batch is the mean of the CEs of its positions: neither a sum nor a mix of positions.

    Both sides are judged like every CE here: the dtype's default plus eps·max|logit| (module docstring).
    """
    cross_entropy = implementation("run_cross_entropy")
    logits, targets, _ = _problem(data, dtype, device, min_lead_dims=1)
    rows, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    per_position = torch.stack(
        [cross_entropy(rows[i : i + 1], flat_targets[i : i + 1]).to(torch.float64) for i in range(len(rows))]
    )
    assert_law(
        cross_entropy(logits, targets).to(torch.float64),
        per_position.mean(),
        "CE(x, t) == mean_i CE(x[i], t[i])",
        tol=_tolerance(dtype, logits),
        inputs={"logits": logits, "targets": targets},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), shift=st.sampled_from([1e3, -1e3, 7.5, -0.25]))
def test_shift_invariance(implementation, device, dtype, data, shift):
    """CE(x + c, t) = CE(x, t) when each position's logits are shifted by its own constant, up to ±1000.

    x (|x| ≤ 8) and the shifts lie on a grid that makes x + c exact in the dtype; the shift is c times a random
    integer in [-1, 1] per position, so positions do not all move together.
    """
    cross_entropy = implementation("run_cross_entropy")
    grid = exact_grid(dtype, abs(shift) + 8)
    logits, targets, seed = _problem(data, dtype, device, grid=grid)
    logits = logits.clamp(-8, 8)
    offsets = (make_ids(seed + 2, (*targets.shape, 1), 3, dtype, device) - 1) * shift
    shifted = logits + offsets
    assert_law(
        cross_entropy(shifted, targets),
        cross_entropy(logits, targets),
        f"CE(x + c, t) == CE(x, t) with per-position c in {{{-abs(shift)}, 0, {abs(shift)}}}",
        tol=_tolerance(dtype, shifted),
        inputs={"logits": logits, "targets": targets, "offsets": offsets},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_stable_for_large_logits(implementation, device, dtype, data):
    """CE(1000·x, t) is finite and equals mean(−log softmax(1000·x)[t]) computed in float64: no exp overflow."""
    logits, targets, _ = _problem(data, dtype, device)
    logits = logits.clamp(-16, 16) * 1000  # 1.6e4 stays below float16's 65504
    loss = implementation("run_cross_entropy")(logits, targets)
    assert_law(
        loss,
        _negative_log_likelihood(logits, targets),
        "CE(1000·x, t) == mean(-log softmax(1000·x)[t]), finite",
        tol=_tolerance(dtype, logits),
        inputs={"logits": logits, "targets": targets},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), level=st.sampled_from([0.0, 3.5, -1e3, 1e3]))
def test_uniform_logits_give_log_vocab(implementation, device, dtype, data, level):
    """CE of logits that are all equal (to 0, 3.5 or ±1000) is log(vocab) whatever the targets."""
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    vocab = data.draw(st.integers(1, 32), label="vocab")
    targets = make_ids(data.draw(seeds(), label="seed"), lead, vocab, device=device)
    logits = torch.full((*targets.shape, vocab), level, dtype=dtype, device=device)
    assert_law(
        implementation("run_cross_entropy")(logits, targets),
        torch.tensor(math.log(vocab), dtype=torch.float64),
        f"CE(all logits {level}, t) == log({vocab})",
        tol=_tolerance(dtype, logits),
        inputs={"logits": logits, "targets": targets},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), margin=st.sampled_from([50.0, 200.0]))
def test_confident_correct_prediction_costs_nothing(implementation, device, dtype, data, margin):
    """When each target's logit exceeds every other logit of its position by ≥ 50, CE = 0 (to e⁻⁵⁰ · vocab).

    A loss that picks the wrong entry, flips a sign or forgets the normaliser is far from 0 here.
    """
    logits, targets, _ = _problem(data, dtype, device, grid=0.25)
    logits = logits.clamp(-8, 8)
    index = targets.long().unsqueeze(-1)
    logits = logits.scatter(-1, index, torch.full_like(index, margin + 8, dtype=dtype))
    assert_law(
        implementation("run_cross_entropy")(logits, targets),
        torch.tensor(0.0, dtype=torch.float64),
        f"CE == 0 when the target's logit leads by >= {margin}",
        tol=_tolerance(dtype, logits),
        inputs={"logits": logits, "targets": targets},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """CE of (b1, b2, vocab) logits and int32 or int64 targets is a 0-dim tensor of the logits' dtype and device,
    with the value of contiguous logits and int64 targets in every layout.

    The layouts: contiguous; every other element of a wider buffer; dims stored in reverse, so that ``.view`` cannot
    merge the leading dims.

    Zero and one leading dims: test_equals_negative_log_softmax_at_target checks shape and dtype there.
    """
    cross_entropy = implementation("run_cross_entropy")
    logits, targets, _ = _problem(data, dtype, device, min_lead_dims=2)
    index_dtype = targets.dtype
    logits_in, targets_in = with_layout(logits, layout), with_layout(targets, layout)
    inputs = {"logits": logits_in, "targets": targets_in, "layout": layout}
    loss = cross_entropy(logits_in, targets_in)
    assert_tensor(
        loss, "CE returns a 0-dim tensor of the logits' dtype", shape=(), dtype=dtype, device=device, inputs=inputs
    )
    assert_law(
        loss,
        cross_entropy(logits, targets.to(torch.int64)),
        f"CE({layout} logits, {layout} {index_dtype} targets) == CE(contiguous, int64)",
        inputs=inputs,
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_cross_entropy``, drawn (shared by the differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 2, 4), label="leading dims")
    vocab = data.draw(st.integers(1, 10), label="vocab")
    scale = data.draw(st.sampled_from([1.0, 1000.0]), label="logits scale")
    arguments = {
        "inputs": floats(data, (*lead, vocab), dtype, device, "inputs", scale=scale),
        "targets": data.draw(token_ids(lead, vocab, device=device), label="targets"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_cross_entropy = mean(logsumexp(logits) - logits[target]) over every leading position, stable ×1000."""
    agrees(implementation, "run_cross_entropy", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_gradient_is_softmax_minus_onehot_over_n(implementation, device, dtype, data):
    """∂ cross_entropy(z, t)/∂z = (softmax(z) − onehot(t)) / N, N the number of positions (the loss is a mean)."""
    lead = data.draw(shapes(0, 2, 4), label="leading dims")
    vocab = data.draw(st.integers(1, 10), label="vocab")
    z = make_tensor(data.draw(seeds(), label="logits seed"), (*lead, vocab), dtype, device, scale=3.0)
    targets = data.draw(token_ids(lead, vocab, device=device), label="targets")
    one = torch.ones((), dtype=dtype, device=device)
    v = gradients(implementation, "run_cross_entropy", {"inputs": z, "targets": targets}, ["inputs"], one)["inputs"]
    z64 = z.to("cpu", torch.float64)
    onehot = torch.nn.functional.one_hot(targets.to("cpu", torch.int64), vocab).to(torch.float64)
    assert_law(
        v,
        (torch.softmax(z64, -1) - onehot) / max(1, z64[..., 0].numel()),
        "∂ cross_entropy(z, t)/∂z == (softmax(z) − onehot(t)) / N",
        inputs={"inputs": z, "targets": targets},
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to inputs, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_cross_entropy", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_cross_entropy", _arguments(data, dtype, device))
