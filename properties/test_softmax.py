"""Properties of ``run_softmax(in_features, dim)``.

Each law is checked along a drawn ``dim`` (negative or not) of a drawn shape,
in every float dtype. SPEC §1 prescribes subtracting the maximum before
``exp``: with inputs on a grid that makes ``x + c`` exact, that makes shift
invariance exact, so it is judged at the dtype's default tolerance.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, exact_grid, make_ids, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, WIDE_FLOATS, floats, secondary_settings, seeds, shapes, tensors

pytestmark = pytest.mark.adapters("run_softmax")

EXACT = Tolerance(0.0, 0.0, "exact: no rounding can make this law fail")


def _dim(data: st.DataObject, shape: tuple[int, ...]) -> int:
    return data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")


def _sum_tolerance(dtype: torch.dtype, n: int) -> Tolerance:
    """How far from 1 a sum of ``n`` probabilities in ``dtype`` may land, judged in float64."""
    default = tolerance(dtype)
    if dtype in (torch.float16, torch.bfloat16):
        # SPEC §4 allows computing in the dtype itself: each exp and the quotient is rounded (≤ u each) and the
        # normaliser is a sum of n rounded terms (≤ (n-1)·u), so the total is within (n+1)·u of 1, u = eps/2.
        u = torch.finfo(dtype).eps / 2
        return Tolerance(default.rtol, max(default.atol, (n + 1) * u), f"{dtype}: sum of {n} probabilities rounded")
    return default


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), shift=st.sampled_from([1e3, -1e3, 7.5, -0.25]))
def test_shift_invariance(implementation, device, dtype, data, shift):
    """softmax(x + c, dim) = softmax(x, dim) for any constant c, including ±1000.

    |x| ≤ 8 on the grid ``exact_grid(dtype, |c| + 8)``, so x and x + c are both exact in the dtype (float16 at 1000:
    integers): with the maximum subtracted first both sides compute the same numbers, and any difference is the
    implementation's.
    """
    softmax = implementation("run_softmax")
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    grid = exact_grid(dtype, abs(shift) + 8)
    x = data.draw(tensors(shape, dtype, device, scale=3.0, grid=grid), label="x").clamp(-8, 8)
    assert_law(
        softmax(x + shift, dim),
        softmax(x, dim),
        f"softmax(x + {shift}, dim={dim}) == softmax(x, dim)",
        inputs={"x": x, "dim": dim},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_sums_to_one(implementation, device, dtype, data):
    """Σ softmax(x, dim) along ``dim`` = 1 for every slice, whichever ``dim`` is asked for."""
    shape = data.draw(shapes(max_dims=4), label="shape")
    dim = _dim(data, shape)
    x = data.draw(tensors(shape, dtype, device, scale=3.0), label="x")
    p = implementation("run_softmax")(x, dim)
    assert_tensor(p, "softmax keeps the input's shape", shape=shape, inputs={"x": x, "dim": dim})
    total = p.to(torch.float64).sum(dim=dim)
    assert_law(
        total,
        torch.ones_like(total),
        f"softmax(x, dim={dim}).sum(dim={dim}) == 1",
        tol=_sum_tolerance(dtype, shape[dim]),
        inputs={"x": x, "dim": dim},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_values_are_probabilities(implementation, device, dtype, data):
    """0 ≤ softmax(x, dim) ≤ 1 elementwise, and never NaN."""
    shape = data.draw(shapes(max_dims=4), label="shape")
    dim = _dim(data, shape)
    x = data.draw(
        tensors(shape, dtype, device, scale=data.draw(st.sampled_from([1.0, 10.0]), label="scale")), label="x"
    )
    p = implementation("run_softmax")(x, dim)
    assert_tensor(p, "softmax keeps the input's shape", shape=shape, inputs={"x": x, "dim": dim})
    assert_law(
        p,
        p.clamp(0, 1).nan_to_num(nan=0.0),
        f"0 <= softmax(x, dim={dim}) <= 1",
        tol=EXACT,
        inputs={"x": x, "dim": dim},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_order_preserved(implementation, device, dtype, data):
    """x_i ≤ x_j along ``dim`` implies softmax(x)_i ≤ softmax(x)_j: softmax is monotone in each entry.

    The probabilities gathered in the order that sorts x must be non-decreasing (equal to their running maximum);
    x lies on a grid of 1/4 so that ties occur too.
    """
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    x = data.draw(tensors(shape, dtype, device, scale=2.0, grid=0.25), label="x")
    p = implementation("run_softmax")(x, dim)
    assert_tensor(p, "softmax keeps the input's shape", shape=shape, inputs={"x": x, "dim": dim})
    order = x.argsort(dim=dim, stable=True)
    in_order = p.gather(dim, order).to(torch.float64)
    assert_law(
        in_order,
        in_order.cummax(dim=dim).values,
        f"softmax(x, dim={dim}) is non-decreasing in the order that sorts x",
        tol=EXACT,
        inputs={"x": x, "dim": dim},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_negative_infinity_gets_zero(implementation, device, dtype, data):
    """Entries equal to −inf get probability exactly 0, and the others are the softmax of the finite entries alone."""
    softmax = implementation("run_softmax")
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    seed = data.draw(seeds(), label="seed")
    x = make_tensor(seed, shape, dtype, device, scale=3.0)
    keep = make_ids(seed + 1, (shape[dim],), 2).bool()
    keep[make_ids(seed + 2, (), shape[dim])] = True  # at least one finite entry per slice
    kept, dropped = keep.nonzero()[:, 0].to(device), (~keep).nonzero()[:, 0].to(device)
    masked = x.index_fill(dim, dropped, -torch.inf)
    p = softmax(masked, dim)
    inputs = {"x": masked, "dim": dim}
    assert_tensor(p, "softmax keeps the input's shape", shape=shape, inputs=inputs)
    at_dropped = p.index_select(dim, dropped)
    law = f"softmax(x, dim={dim}) with x = -inf at {dropped.tolist()} along dim"
    assert_law(at_dropped, torch.zeros_like(at_dropped), f"{law}: exactly 0 there", tol=EXACT, inputs=inputs)
    expected = softmax(x.index_select(dim, kept), dim)
    assert_law(
        p.index_select(dim, kept), expected, f"{law}: the softmax of the finite entries elsewhere", inputs=inputs
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_large_finite_inputs(implementation, device, dtype, data):
    """For |x| up to half the dtype's largest finite value, softmax has no NaN or inf, lies in [0, 1] and sums to 1.

    Differences of such inputs stay finite, so an implementation that subtracts the maximum never overflows.
    """
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    huge = torch.finfo(dtype).max / 8
    x = make_tensor(data.draw(seeds(), label="seed"), shape, torch.float64).clamp(-4, 4) * huge
    x = x.to(dtype=dtype, device=device)
    p = implementation("run_softmax")(x, dim)
    assert_tensor(p, "softmax keeps the input's shape", shape=shape, inputs={"x": x, "dim": dim})
    law = f"softmax of inputs up to ±{huge * 4:.3g} (dim={dim}) is finite, in [0, 1] and sums to 1"
    assert_law(p, p.clamp(0, 1).nan_to_num(nan=0.0), law, tol=EXACT, inputs={"x": x, "dim": dim})
    total = p.to(torch.float64).sum(dim=dim)
    assert_law(total, torch.ones_like(total), law, tol=_sum_tolerance(dtype, shape[dim]), inputs={"x": x, "dim": dim})


# float64's comparison tolerance (SPEC §5, 1e-7) sits above float32's rounding (2^-24 ≈ 6e-8), so it lets a
# float64 softmax computed in float32 through. The definition evaluated in float64 errs by a few units of 2^-53
# (< 1e-15 relative for these sizes); 1e-12 leaves a thousandfold margin and still rejects float32 arithmetic.
FLOAT64_PRECISION = Tolerance(1e-12, 0.0, "float64 arithmetic: a few units of 2^-53, with a 1000x margin")


@pytest.mark.parametrize("dtype", [torch.float64])  # a parameter, so that --dtypes can deselect it
@given(data=st.data())
def test_float64_keeps_float64_precision(implementation, device, dtype, data):
    """float64 softmax(x, dim) equals exp(x - max) / Σ exp(x - max) evaluated in float64, to 1e-12 relative.

    Inputs are off any grid (|x| ≤ 12), so an implementation that rounds to float32 anywhere is off by ~1e-7.
    """
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    x = make_tensor(data.draw(seeds(), label="seed"), shape, dtype, device, scale=4.0).clamp(-12, 12)
    p = implementation("run_softmax")(x, dim)
    assert_tensor(p, "softmax keeps the input's shape and dtype", shape=shape, dtype=dtype, inputs={"x": x})
    exps = (x - x.amax(dim=dim, keepdim=True)).exp()
    assert_law(
        p,
        exps / exps.sum(dim=dim, keepdim=True),
        f"float64 softmax(x, dim={dim}) is computed in float64",
        tol=FLOAT64_PRECISION,
        inputs={"x": x, "dim": dim},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """softmax(x, dim) has x's dtype, shape and device, and a non-contiguous x gives its contiguous copy's result."""
    softmax = implementation("run_softmax")
    shape = data.draw(shapes(max_dims=4), label="shape")
    dim = _dim(data, shape)
    x = data.draw(tensors(shape, dtype, device, scale=3.0), label="x")
    x_in = with_layout(x, layout)
    p = softmax(x_in, dim)
    inputs = {"x": x_in, "dim": dim, "layout": layout}
    assert_tensor(
        p, "softmax returns the input's dtype and shape", shape=shape, dtype=dtype, device=device, inputs=inputs
    )
    assert_law(p, softmax(x, dim), f"softmax({layout} x, dim={dim}) == softmax(contiguous x)", inputs=inputs)


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_softmax``, drawn (shared by the differential, gradient and side-effect checks)."""
    shape = data.draw(shapes(min_dims=1, max_dims=4, max_side=6), label="shape")
    scale = data.draw(st.sampled_from([1.0, 30.0, 1000.0]), label="scale")
    arguments = {
        "in_features": floats(data, shape, dtype, device, "in_features", scale=scale),
        "dim": data.draw(st.integers(-len(shape), len(shape) - 1), label="dim"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_softmax(x, dim) = exp(x - max) / Σ exp(x - max) along any dim, also for inputs scaled by 1000."""
    agrees(implementation, "run_softmax", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), seed=seeds())
def test_jacobian_rows_sum_to_zero(implementation, device, dtype, data, seed):
    """Softmax's Jacobian rows sum to 0 (shifting x along ``dim`` changes nothing), so for any cotangent g the input
    gradient v = Jᵀg sums to 0 along ``dim``.

    Exactly, v_j = p_j (g_j − Σ_k p_k g_k); each term rounds by a few ulps of p_j (|g_j| + |Σ p g|), hence the bound.
    """
    shape = data.draw(shapes(max_dims=3), label="shape")
    dim = _dim(data, shape)
    x = data.draw(tensors(shape, dtype, device, scale=3.0), label="x")
    g = make_tensor(seed, shape, dtype, device)
    v = gradients(implementation, "run_softmax", {"in_features": x, "dim": dim}, ["in_features"], g)["in_features"]
    assert_tensor(v, "the gradient has the input's shape", shape=shape, inputs={"x": x, "dim": dim})
    x64, g64 = x.to("cpu", torch.float64), g.to("cpu", torch.float64)
    p = torch.softmax(x64, dim)
    terms = p * (g64.abs() + (p * g64).sum(dim, keepdim=True).abs())
    u = torch.finfo(dtype).eps / 2
    total = v.to("cpu", torch.float64).sum(dim)
    bound = (4 * (shape[dim] + 2) * u * terms.sum(dim)).max().item()
    assert_law(
        total,
        torch.zeros_like(total),
        f"the gradient of softmax(x, dim={dim}) for any cotangent sums to 0 along dim",
        tol=Tolerance(0.0, bound, f"{dtype}: 4·(n+2) ulps of Σ p(|g| + |Σpg|), the terms' rounding"),
        inputs={"x": x, "dim": dim, "cotangent": g},
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_softmax", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_softmax", _arguments(data, dtype, device))
