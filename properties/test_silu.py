"""Properties of ``run_silu(in_features)``: ``SiLU(x) = x · sigmoid(x)``, elementwise, any shape."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, floats, secondary_settings, seeds, shapes, tensors

pytestmark = pytest.mark.adapters("run_silu")


def _silu64(x: torch.Tensor) -> torch.Tensor:
    wide = x.detach().to("cpu", torch.float64)
    return wide * torch.sigmoid(wide)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
def test_zero_maps_to_zero(implementation, device, dtype):
    """SiLU(0) = 0 exactly."""
    zero = torch.zeros(3, dtype=dtype, device=device)
    assert_law(implementation("run_silu")(zero), zero, "SiLU(0) == 0", tol=Tolerance(0.0, 0.0, "exact"))


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_reflection_identity(implementation, device, dtype, data):
    """SiLU(x) − SiLU(−x) = x, since sigmoid(x) + sigmoid(−x) = 1.

    The difference is formed in float64 from the two outputs, each off by ≤ 2u relative even when the sigmoid and the
    product are both rounded in the dtype; as |SiLU(x)| + |SiLU(−x)| = |x| the total is ≤ 2u·|x|, inside the default
    rtol (float16: 2u = 9.8e-4 < 1e-3).
    """
    silu = implementation("run_silu")
    x = data.draw(tensors(data.draw(shapes(max_dims=3), label="shape"), dtype, device, scale=4.0), label="x")
    difference = silu(x).to(torch.float64) - silu(-x).to(torch.float64)
    assert_law(difference, x.to(torch.float64), "SiLU(x) - SiLU(-x) == x", tol=tolerance(dtype), inputs={"x": x})


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_equals_x_times_sigmoid(implementation, device, dtype, data):
    """SiLU(x) = x / (1 + e^−x), judged against float64 on the same inputs: not sigmoid, ReLU, GELU or tanh."""
    x = data.draw(tensors(data.draw(shapes(max_dims=3), label="shape"), dtype, device, scale=4.0), label="x")
    assert_law(implementation("run_silu")(x), _silu64(x), "SiLU(x) == x * sigmoid(x)", inputs={"x": x})


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_saturates_for_large_inputs(implementation, device, dtype, data):
    """SiLU(x) = x for x ≥ 40 and SiLU(x) = 0 (to the default atol) for x ≤ −40, up to ±half the dtype's maximum,
    with no NaN or inf: e^|x| overflowing inside the sigmoid must not leak out."""
    shape = data.draw(shapes(max_dims=2), label="shape")
    seed = data.draw(seeds(), label="seed")
    magnitude = make_tensor(seed, shape, torch.float64).abs()
    # log-uniform between 40 and max/2, both signs
    top = torch.finfo(dtype).max / 2
    wide = 40 * (top / 40) ** (magnitude.clamp_max(4) / 4)
    sign = torch.where(make_tensor(seed + 1, shape, torch.float64) < 0, -1.0, 1.0)
    x = (sign * wide).to(dtype=dtype, device=device)
    expected = x.to(torch.float64).clamp_min(0.0)
    assert_law(implementation("run_silu")(x), expected, "SiLU(x) == max(x, 0) for |x| >= 40", inputs={"x": x})


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """SiLU keeps its input's shape (0-dim to 4-dim), dtype and device, and a non-contiguous input gives the result
    of its contiguous copy."""
    silu = implementation("run_silu")
    shape = data.draw(shapes(min_dims=0, max_dims=4), label="shape")
    x = data.draw(tensors(shape, dtype, device, scale=4.0), label="x")
    x_in = with_layout(x, layout)
    inputs = {"x": x_in, "layout": layout}
    y = silu(x_in)
    assert_tensor(y, "SiLU returns its input's shape and dtype", shape=shape, dtype=dtype, device=device, inputs=inputs)
    assert_law(y, silu(x), f"SiLU({layout} x) == SiLU(contiguous x)", inputs=inputs)


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_silu``, drawn (shared by the differential, gradient and side-effect checks)."""
    shape = data.draw(shapes(min_dims=0, max_dims=4), label="shape")
    scale = data.draw(st.sampled_from([1.0, 10.0]), label="scale")
    arguments = {"in_features": floats(data, shape, dtype, device, "in_features", scale=scale)}
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_silu(x) = x·sigmoid(x) elementwise, any shape."""
    agrees(implementation, "run_silu", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_silu", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_silu", _arguments(data, dtype, device))
