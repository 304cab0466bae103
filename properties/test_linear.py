"""Properties of ``run_linear(d_in, d_out, weights, in_features)``: ``y = x Wᵀ`` with ``W`` of shape ``(d_out, d_in)``.

Linearity alone cannot tell ``x Wᵀ`` from ``x W`` when W is square, so the
laws with structure (basis vectors read columns, composition multiplies
weights in order) carry the orientation.
Inputs and weights on small integer grids keep every product and partial sum
exact even in bfloat16 (|sums| ≤ 256), so these laws hold in every dtype.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, linear_weight, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, floats, secondary_settings, seeds, shapes, tensors, weight

pytestmark = pytest.mark.adapters("run_linear")

EXACT = Tolerance(0.0, 0.0, "exact: every sum has at most one nonzero term, a product with 1 or 0")
SIZES = st.integers(1, 8)


def _integers(seed: int, shape: tuple[int, ...], bound: int, dtype, device) -> torch.Tensor:
    """Integers in [-bound, bound]: products and sums of a few of them are exact in every float dtype."""
    return make_tensor(seed, shape, dtype, device, scale=bound / 2, grid=1.0).clamp(-bound, bound)


def _sizes(data: st.DataObject, *names: str) -> tuple[int, ...]:
    return tuple(data.draw(SIZES, label=name) for name in names)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=str)
def test_zero_maps_to_zero(implementation, device, dtype, lead):
    """Linear(0) = 0: no bias, nothing added (any W, here a fixed random one; no search needed)."""
    d_in, d_out = 5, 3
    weight = linear_weight(0, d_out, d_in, dtype, device)
    zero = torch.zeros((*lead, d_in), dtype=dtype, device=device)
    assert_law(
        implementation("run_linear")(d_in, d_out, weight, zero),
        torch.zeros((*lead, d_out), dtype=torch.float64),
        "Linear(0) == 0",
        tol=EXACT,
        inputs={"weight": weight, "x": zero},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), a=st.sampled_from([1.0, -1.0, 2.0, -2.0]), b=st.sampled_from([1.0, -1.0, 2.0, -2.0]))
def test_linearity_in_input(implementation, device, dtype, data, a, b):
    """Linear(a·x + b·y) = a·Linear(x) + b·Linear(y)."""
    linear = implementation("run_linear")
    d_in, d_out = _sizes(data, "d_in", "d_out")
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seed = data.draw(seeds(), label="seed")
    weight = _integers(seed, (d_out, d_in), 2, dtype, device)
    x, y = _integers(seed + 1, (*lead, d_in), 3, dtype, device), _integers(seed + 2, (*lead, d_in), 3, dtype, device)
    on_x, on_y = (linear(d_in, d_out, weight, t).to(torch.float64) for t in (x, y))
    expected = a * on_x + b * on_y
    assert_law(
        linear(d_in, d_out, weight, a * x + b * y),
        expected,
        f"Linear({a:g}·x + {b:g}·y) == {a:g}·Linear(x) + {b:g}·Linear(y)",
        inputs={"weight": weight, "x": x, "y": y},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_basis_vector_reads_weight_column(implementation, device, dtype, data):
    """Linear(e_j) = W[:, j]: the j-th input feature feeds output k with weight W[k, j] (W is d_out × d_in).

    The rows of the identity go in as one batch, so the outputs stacked are Wᵀ; any W, exact in every dtype.
    """
    d_in, d_out = _sizes(data, "d_in", "d_out")
    weight = data.draw(tensors((d_out, d_in), dtype, device), label="weight")
    basis = torch.eye(d_in, dtype=dtype, device=device)
    assert_law(
        implementation("run_linear")(d_in, d_out, weight, basis),
        weight.T,
        "Linear(e_j) == W[:, j] for every j",
        tol=EXACT,
        inputs={"weight": weight, "x": basis},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_composition_multiplies_weights_in_order(implementation, device, dtype, data):
    """Linear_{W₂}(Linear_{W₁}(x)) = Linear_{W₂W₁}(x): x W₁ᵀ W₂ᵀ = x (W₂ W₁)ᵀ, even for square, non-commuting W."""
    linear = implementation("run_linear")
    d_in, d_mid, d_out = _sizes(data, "d_in", "d_mid", "d_out")
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seed = data.draw(seeds(), label="seed")
    w1, w2 = _integers(seed, (d_mid, d_in), 1, dtype, device), _integers(seed + 1, (d_out, d_mid), 1, dtype, device)
    x = _integers(seed + 2, (*lead, d_in), 3, dtype, device)
    product = (w2.to(torch.float64) @ w1.to(torch.float64)).to(dtype)
    assert_law(
        linear(d_mid, d_out, w2, linear(d_in, d_mid, w1, x)),
        linear(d_in, d_out, product, x),
        "Linear_{W2}(Linear_{W1}(x)) == Linear_{W2 W1}(x)",
        inputs={"W1": w1, "W2": w2, "x": x},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """Linear maps (b1, b2, d_in) to (b1, b2, d_out) in x's dtype and device, with the contiguous copies' value
    whatever the layout of x and W.

    The layouts: contiguous; every other element of a wider buffer; dims stored in reverse, so that ``.view`` cannot
    merge the leading dims.

    Zero and one leading dims: test_zero_maps_to_zero checks the shape there.
    """
    linear = implementation("run_linear")
    d_in, d_out = _sizes(data, "d_in", "d_out")
    lead = data.draw(shapes(2, 2, 3), label="leading dims")
    seed = data.draw(seeds(), label="seed")
    weight, x = linear_weight(seed, d_out, d_in, dtype, device), make_tensor(seed + 1, (*lead, d_in), dtype, device)
    x_in, weight_in = with_layout(x, layout), with_layout(weight, layout)
    inputs = {"weight": weight_in, "x": x_in, "layout": layout}
    y = linear(d_in, d_out, weight_in, x_in)
    assert_tensor(
        y, "Linear returns (..., d_out) in x's dtype", shape=(*lead, d_out), dtype=dtype, device=device, inputs=inputs
    )
    assert_law(y, linear(d_in, d_out, weight, x), f"Linear({layout} x, W) == Linear(contiguous x, W)", inputs=inputs)


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_linear``, drawn (shared by the differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 3, 3), label="leading dims")
    d_in = data.draw(st.integers(1, 8), label="d_in")
    d_out = data.draw(st.one_of(st.just(d_in), st.integers(1, 8)), label="d_out")  # square: orientation bugs hide
    arguments = {
        "d_in": d_in,
        "d_out": d_out,
        "weights": weight(data, d_out, d_in, dtype, device, "weights"),
        "in_features": floats(data, (*lead, d_in), dtype, device, "in_features"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_linear(d_in, d_out, W, x) = x Wᵀ for x of shape (..., d_in)."""
    agrees(implementation, "run_linear", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_input_gradient_is_cotangent_times_weight(implementation, device, dtype, data):
    """∂⟨g, Linear(x)⟩/∂x = g W: the input gradient of y = x Wᵀ for cotangent g (W is d_out × d_in).

    W and g on small integer grids make g W exact in every dtype, so it is judged exactly.
    """
    d_in, d_out = _sizes(data, "d_in", "d_out")
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seed = data.draw(seeds(), label="seed")
    weight = _integers(seed, (d_out, d_in), 2, dtype, device)
    x, g = make_tensor(seed + 1, (*lead, d_in), dtype, device), _integers(seed + 2, (*lead, d_out), 3, dtype, device)
    arguments = {"d_in": d_in, "d_out": d_out, "weights": weight, "in_features": x}
    v = gradients(implementation, "run_linear", arguments, ["in_features"], g)["in_features"]
    assert_law(
        v,
        g.to(torch.float64) @ weight.to(torch.float64),
        "∂⟨g, Linear(x)⟩/∂x == g W",
        tol=EXACT,
        inputs={"weight": weight, "x": x, "cotangent": g},
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_linear", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_linear", _arguments(data, dtype, device))
