"""Properties of ``run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features)``.

``SwiGLU(x) = W₂ (SiLU(W₁ x) ⊙ W₃ x)`` with ``W₁, W₃ (d_ff, d_model)`` and
``W₂ (d_model, d_ff)`` (SPEC §1). It is linear in the up projection W₃ and in
W₂ but not in the gate W₁, which passes through SiLU: the laws below tell the
two apart and pin each weight's orientation.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, linear_weight, make_ids, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, floats, secondary_settings, seeds, shapes, weight

pytestmark = pytest.mark.adapters("run_swiglu")

SCALES = st.sampled_from([-1.0, 2.0, -0.5, 4.0])
SIGNED_POWERS_OF_TWO = st.sampled_from([0.5, 1.0, 2.0, -0.5, -1.0, -2.0])


def _weights(seed: int, d_model: int, d_ff: int, dtype, device) -> dict[str, torch.Tensor]:
    return {
        "w1_weight": linear_weight(seed, d_ff, d_model, dtype, device),
        "w2_weight": linear_weight(seed + 1, d_model, d_ff, dtype, device),
        "w3_weight": linear_weight(seed + 2, d_ff, d_model, dtype, device),
    }


def _rounding_tolerance(dtype: torch.dtype, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> Tolerance:
    """The dtype's default plus 16u·max(E), E = |W₂|(|W₁||x| ⊙ |W₃||x|): what two roundings of SwiGLU may differ by."""
    w1, w2, w3 = (
        weights[name].detach().to("cpu", torch.float64).abs() for name in ("w1_weight", "w2_weight", "w3_weight")
    )
    magnitude = x.detach().to("cpu", torch.float64).abs()
    scale = float((((magnitude @ w1.T) * (magnitude @ w3.T)) @ w2.T).max())
    default, u = tolerance(dtype), torch.finfo(dtype).eps / 2
    extra = 16 * u * scale
    return Tolerance(default.rtol, default.atol + extra, f"{dtype} default + 16u·E = {extra:.3g} (kernels round apart)")


def _problem(data: st.DataObject, dtype, device, *, min_lead_dims: int = 0):
    """``(d_model, d_ff, x, weights, seed)`` with x of shape (..., d_model), all from one drawn seed."""
    d_model = data.draw(st.integers(1, 8), label="d_model")
    d_ff = data.draw(st.integers(1, 8), label="d_ff")
    lead = data.draw(shapes(min_lead_dims, 2, 3), label="leading dims")
    seed = data.draw(seeds(), label="seed")
    x = make_tensor(seed, (*lead, d_model), dtype, device)
    return d_model, d_ff, x, _weights(seed + 1, d_model, d_ff, dtype, device), seed


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=str)
def test_zero_maps_to_zero(implementation, device, dtype, lead):
    """SwiGLU(0) = 0: SiLU(0) = 0 and there is no bias (any weights, here fixed random ones; no search needed)."""
    d_model, d_ff = 4, 6
    weights = _weights(0, d_model, d_ff, dtype, device)
    zero = torch.zeros((*lead, d_model), dtype=dtype, device=device)
    assert_law(
        implementation("run_swiglu")(d_model, d_ff, **weights, in_features=zero),
        torch.zeros(zero.shape, dtype=torch.float64),
        "SwiGLU(0) == 0",
        tol=Tolerance(0.0, 0.0, "exact: every product has a zero factor"),
        inputs={"x": zero, **weights},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), c=SCALES)
def test_homogeneous_in_up_projection(implementation, device, dtype, data, c):
    """SwiGLU with W₃ → c·W₃ is c·SwiGLU, for negative c too; the gate W₁ has no such law (SiLU(−z) ≠ −SiLU(z)),
    so an implementation that swaps gate and up breaks it.

    c is a power of two, so scaling is exact in every dtype (the default atol covers float16 subnormals).
    """
    swiglu = implementation("run_swiglu")
    d_model, d_ff, x, weights, _ = _problem(data, dtype, device)
    scaled = weights | {"w3_weight": c * weights["w3_weight"]}
    assert_law(
        swiglu(d_model, d_ff, **scaled, in_features=x),
        c * swiglu(d_model, d_ff, **weights, in_features=x).to(torch.float64),
        f"SwiGLU(W1, W2, {c:g}·W3) == {c:g}·SwiGLU(W1, W2, W3)",
        inputs={"x": x, **weights},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), a=SIGNED_POWERS_OF_TWO, b=SIGNED_POWERS_OF_TWO, c=SIGNED_POWERS_OF_TWO)
def test_one_hot_weights_route_gate_and_up(implementation, device, dtype, data, a, b, c):
    """With W₁ = a·e_h e_jᵀ, W₃ = b·e_h e_kᵀ and W₂ = c·e_i e_hᵀ (one hidden unit h wired to features j, k and
    output i), SwiGLU(x)[..., i] = c · SiLU(a·x_j) · b·x_k and every other output is 0.

    Expected in float64 from x. a, b, c are powers of two, so W₁x, W₃x and W₂(·) are exact; what remains is the
    SiLU (sigmoid, product) and the gating product, three roundings of u = eps/2 in the dtype: the low-precision
    tolerance is 4u (float16: 2e-3).
    """
    d_model, d_ff, x, _, seed = _problem(data, dtype, device)
    h = int(make_ids(seed + 4, (), d_ff))
    i, j, k = (int(v) for v in make_ids(seed + 5, (3,), d_model))
    w1 = torch.zeros(d_ff, d_model, dtype=dtype, device=device)
    w3, w2 = torch.zeros_like(w1), torch.zeros(d_model, d_ff, dtype=dtype, device=device)
    w1[h, j], w3[h, k], w2[i, h] = a, b, c
    wide = x.to("cpu", torch.float64)
    gate = a * wide[..., j]
    expected = torch.zeros(wide.shape, dtype=torch.float64)
    expected[..., i] = c * gate * torch.sigmoid(gate) * (b * wide[..., k])
    default = tolerance(dtype)
    tol = Tolerance(max(default.rtol, 2 * torch.finfo(dtype).eps), default.atol, f"{dtype}: SiLU and gate rounded")
    assert_law(
        implementation("run_swiglu")(d_model, d_ff, w1, w2, w3, x),
        expected,
        f"SwiGLU(x)[..., {i}] == {c:g}·SiLU({a:g}·x[..., {j}])·{b:g}·x[..., {k}] through hidden unit {h}",
        tol=tol,
        inputs={"x": x, "w1": w1, "w2": w2, "w3": w3},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, layout):
    """SwiGLU maps (b1, b2, d_model) to the same shape in x's dtype and device, with the contiguous copies' value
    whatever the layout of x and the weights.

    The layouts: contiguous; every other element of a wider buffer; dims stored in reverse, so that ``.view`` cannot
    merge the leading dims.

    Zero and one leading dims: test_zero_maps_to_zero checks the shape there.

    The two calls may take different matmul kernels, which round W₁x, W₃x, the gated product and the output
    differently (float16 CPU kernels do): each result lies within about 8u·E of the exact SwiGLU, where
    E = |W₂|(|W₁||x| ⊙ |W₃||x|) bounds the magnitude of every term summed, so they agree to 16u·E.
    """
    swiglu = implementation("run_swiglu")
    d_model, d_ff, x, weights, _ = _problem(data, dtype, device, min_lead_dims=2)
    x_in = with_layout(x, layout)
    weights_in = {name: with_layout(w, layout) for name, w in weights.items()}
    inputs = {"x": x_in, **weights_in, "layout": layout}
    y = swiglu(d_model, d_ff, **weights_in, in_features=x_in)
    assert_tensor(y, "SwiGLU returns x's shape and dtype", shape=x.shape, dtype=dtype, device=device, inputs=inputs)
    assert_law(
        y,
        swiglu(d_model, d_ff, **weights, in_features=x),
        f"SwiGLU({layout}) == SwiGLU(contiguous)",
        tol=_rounding_tolerance(dtype, x, weights),
        inputs=inputs,
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_swiglu``, drawn (shared by the differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seq = data.draw(st.integers(1, 4), label="seq")
    d_model = data.draw(st.integers(1, 8), label="d_model")
    d_ff = data.draw(st.one_of(st.just(d_model), st.integers(1, 12)), label="d_ff")  # square W2: orientation bugs hide
    arguments = {
        "d_model": d_model,
        "d_ff": d_ff,
        "w1_weight": weight(data, d_ff, d_model, dtype, device, "w1"),
        "w2_weight": weight(data, d_model, d_ff, dtype, device, "w2"),
        "w3_weight": weight(data, d_ff, d_model, dtype, device, "w3"),
        "in_features": floats(data, (*lead, seq, d_model), dtype, device, "in_features"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_swiglu = W2 (SiLU(W1 x) ⊙ W3 x) for x of shape (..., seq, d_model)."""
    agrees(implementation, "run_swiglu", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_swiglu", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_swiglu", _arguments(data, dtype, device))
