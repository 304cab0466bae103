"""Properties of ``run_softmax(in_features, dim)``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from properties.assertions import assert_law
from properties.strategies import shapes, tensors


@given(data=st.data(), shift=st.sampled_from([1e3, -1e3, 7.5, -0.25]))
def test_shift_invariance(implementation, device, data, shift):
    """softmax(x + c, dim) = softmax(x, dim) for any constant c, including ±1000.

    x lies on a grid of 2⁻⁸ so that x + c is exact in float32: any difference is the implementation's.
    """
    softmax = implementation("run_softmax")
    shape = data.draw(shapes(max_dims=3), label="shape")
    x = data.draw(tensors(shape, device=device, scale=3.0, grid=2**-8), label="x")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    assert_law(softmax(x + shift, dim), softmax(x, dim), f"softmax(x + {shift}, dim={dim}) == softmax(x, dim)")
