"""Properties of ``run_rmsnorm(d_model, eps, weights, in_features)``.

``RMSNorm(x; g, eps) = x / sqrt(mean(x², -1) + eps) ⊙ g``, computed in float32
or wider and returned in the input's dtype (SPEC §1). Scaling x by a power of
two c and eps by c² is exact in every dtype, so the scale laws hold to the
last bit and need no tolerance beyond the default.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import LAYOUTS, make_ids, make_tensor, with_layout
from harness.strategies import ALL_FLOATS, WIDE_FLOATS, floats, gain, secondary_settings, seeds, shapes

pytestmark = pytest.mark.adapters("run_rmsnorm")

EPSILONS = st.sampled_from([1e-5, 1e-6, 0.0, 1e-2, 1.0])
POWERS_OF_TWO = st.sampled_from([2.0**k for k in (-4, -3, -1, 1, 2, 5)])
# (tiny, huge) powers of two per dtype: float16 squares of 2⁸·x overflow float16 (max 65504) and squares of
# 2⁻⁸·x fall below its normal range; the others go as far as their squares still fit the float32 (or float64) range.
EXTREME_SCALES = {
    torch.float16: (2.0**-8, 2.0**8),
    torch.bfloat16: (2.0**-48, 2.0**56),
    torch.float32: (2.0**-48, 2.0**56),
    torch.float64: (2.0**-400, 2.0**500),
}
EXACT = Tolerance(0.0, 0.0, "exact: negation is exact in every dtype")


def _problem(data: st.DataObject, dtype, device, *, min_lead_dims: int = 0, grid: float | None = None):
    """``(d_model, x, gain, seed)``: x of shape (..., d_model) and a gain from one drawn seed."""
    lead = data.draw(shapes(min_lead_dims, 2, 3), label="leading dims")
    d_model = data.draw(st.integers(1, 8), label="d_model")
    seed = data.draw(seeds(), label="seed")
    x = make_tensor(seed, (*lead, d_model), dtype, device, grid=grid)
    gain = make_tensor(seed + 1, (d_model,), dtype, device)
    return d_model, x, gain, seed


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64).pow(2).mean(dim=-1).sqrt()


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), c=POWERS_OF_TWO, eps=EPSILONS)
def test_scale_invariance(implementation, device, dtype, data, c, eps):
    """RMSNorm(c·x; eps·c²) = RMSNorm(x; eps) for c > 0: with eps = 0 (or eps ≪ mean(x²)), RMSNorm(c·x) = RMSNorm(x).

    c is a power of two, so c·x and eps·c² are exact and both sides compute the same numbers scaled by c.
    """
    rmsnorm = implementation("run_rmsnorm")
    d_model, x, gain, _ = _problem(data, dtype, device, grid=2**-6)
    inputs = {"x": x, "gain": gain, "eps": eps, "c": c}
    assert_law(
        rmsnorm(d_model, eps * c * c, gain, c * x),
        rmsnorm(d_model, eps, gain, x),
        f"RMSNorm(c·x; eps·c²) == RMSNorm(x; eps) for c={c:g}",
        inputs=inputs,
    )


# What a failure of ``test_extreme_magnitudes`` means, in the report a student reads.
WHY_EXTREME = {
    torch.float64: "squares of c·x leave float32's range: the mark of float32 internals (x.to(torch.float32)), "
    "which SPEC §5 allows on float64 input, so this is a finding that costs no points under the course rubric",
    torch.float32: "c·x and its squares stay inside float32's range: any correct float32 computation holds this",
    torch.float16: "squares of c·x leave float16's range: compute the mean of squares in float32 (the handout's "
    "x.to(torch.float32)) and cast the output back to float16",
    torch.bfloat16: "a mean of squares summed in bfloat16 keeps 8 bits: compute it in float32 (the handout's "
    "x.to(torch.float32)) and cast the output back to bfloat16",
}


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS, huge=st.booleans())
def test_extreme_magnitudes(implementation, device, dtype, data, eps, huge):
    """RMSNorm(c·x; eps·c²) = RMSNorm(x; eps) with c so large or small that x² leaves the dtype's range.

    For float16, squares of 2⁸·x overflow float16 and squares of 2⁻⁸·x underflow it: an implementation that does
    not compute in float32 returns zeros, NaN or a coarse result there. For float64, squares of 2⁵⁰⁰·x overflow
    float32, so float64 must not be computed in float32. The output keeps the input's dtype.
    """
    rmsnorm = implementation("run_rmsnorm")
    c = EXTREME_SCALES[dtype][huge]
    d_model, x, gain, _ = _problem(data, dtype, device, grid=2**-6)
    x = x.clamp(-4, 4)  # keeps c·x finite in float16
    scaled = c * x
    inputs = {"x": scaled, "gain": gain, "eps": eps * c * c, "c": c}
    out = rmsnorm(d_model, eps * c * c, gain, scaled)
    assert_tensor(out, "RMSNorm keeps the input's dtype", shape=x.shape, dtype=dtype, inputs=inputs)
    law = f"RMSNorm(c·x; eps·c²) == RMSNorm(x; eps) for c={c:g} ({WHY_EXTREME[dtype]})"
    assert_law(out, rmsnorm(d_model, eps, gain, x), law, inputs=inputs)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS)
def test_unit_gain_gives_unit_rms(implementation, device, dtype, data, eps):
    """With gain 1, every row of RMSNorm(x) has RMS sqrt(m / (m + eps)), m = mean(x²) of that row: 1 when eps = 0.

    m is computed in float64 from the input as given; each output element is rounded once in the dtype, which moves
    the RMS by at most u relative, inside the default tolerance.
    """
    d_model, x, _, _ = _problem(data, dtype, device)
    out = implementation("run_rmsnorm")(d_model, eps, torch.ones(d_model, dtype=dtype, device=device), x)
    mean_square = x.to(torch.float64).pow(2).mean(dim=-1)
    expected = (mean_square / (mean_square + eps)).sqrt()
    assert_law(
        _rms(out),
        expected,
        f"RMS(RMSNorm(x; g=1, eps={eps:g})) == sqrt(m / (m + eps))",
        tol=tolerance(dtype),
        inputs={"x": x, "eps": eps},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS)
def test_unit_gain_keeps_direction(implementation, device, dtype, data, eps):
    """With gain 1, each row of RMSNorm(x) is a positive multiple of the same row of x: cosine similarity 1.

    Rounding each element by ≤ u relative lowers the cosine by ≤ u²/2 (u = eps/2 of the dtype), so the law is judged
    at 4u² (plus float64 noise): a norm that centres its input (LayerNorm) turns the row by far more.
    """
    d_model, x, _, _ = _problem(data, dtype, device)
    out = implementation("run_rmsnorm")(d_model, eps, torch.ones(d_model, dtype=dtype, device=device), x)
    assert_tensor(out, "RMSNorm keeps the input's shape", shape=x.shape, inputs={"x": x})
    wide, reference_x = out.to(torch.float64), x.to(torch.float64)
    cosine = (wide * reference_x).sum(-1) / (wide.norm(dim=-1) * reference_x.norm(dim=-1))
    u = torch.finfo(dtype).eps / 2
    tol = Tolerance(0.0, 4 * u * u + 1e-14, f"{dtype}: elements rounded by ≤ u move the cosine by ≤ u²/2")
    law = "cos(RMSNorm(x; g=1), x) == 1 row by row"
    assert_law(cosine, torch.ones_like(cosine), law, tol=tol, inputs={"x": x, "eps": eps})


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS)
def test_sign_equivariance(implementation, device, dtype, data, eps):
    """RMSNorm(−x) = −RMSNorm(x), exactly."""
    rmsnorm = implementation("run_rmsnorm")
    d_model, x, gain, _ = _problem(data, dtype, device)
    assert_law(
        rmsnorm(d_model, eps, gain, -x),
        -rmsnorm(d_model, eps, gain, x),
        "RMSNorm(-x) == -RMSNorm(x)",
        tol=EXACT,
        inputs={"x": x, "gain": gain, "eps": eps},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS)
def test_gain_acts_elementwise(implementation, device, dtype, data, eps):
    """RMSNorm(x; g) = g ⊙ RMSNorm(x; 1): the gain multiplies feature k of every row after normalising.

    g holds signed powers of two, so g ⊙ y is exact and the law holds to the last bit in every dtype, except where a
    float16 product falls among the subnormals (|y| < 2⁻¹¹ times 1/8): there rounding may move it by one subnormal step.
    """
    rmsnorm = implementation("run_rmsnorm")
    d_model, x, _, seed = _problem(data, dtype, device)
    exponents = make_ids(seed + 2, (d_model,), 7, torch.float64) - 3
    signs = 2 * make_ids(seed + 3, (d_model,), 2, torch.float64) - 1
    gain = (signs * 2.0**exponents).to(dtype=dtype, device=device)
    subnormal_step = torch.finfo(dtype).smallest_normal * torch.finfo(dtype).eps
    assert_law(
        rmsnorm(d_model, eps, gain, x),
        gain * rmsnorm(d_model, eps, torch.ones_like(gain), x),
        "RMSNorm(x; g) == g * RMSNorm(x; 1)",
        tol=Tolerance(0.0, subnormal_step, f"exact up to one {dtype} subnormal step {subnormal_step:.3g}"),
        inputs={"x": x, "gain": gain, "eps": eps},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS)
def test_rows_are_independent(implementation, device, dtype, data, eps):
    """RMSNorm(x)[i] = RMSNorm(x[i]): the mean is over the last dimension only, each position normalised alone."""
    rmsnorm = implementation("run_rmsnorm")
    d_model, x, gain, seed = _problem(data, dtype, device, min_lead_dims=1)
    out = rmsnorm(d_model, eps, gain, x)
    assert_tensor(out, "RMSNorm keeps the input's shape", shape=x.shape, inputs={"x": x})
    row = make_ids(seed + 2, (), x.shape[:-1].numel())
    index = tuple(int(i) for i in torch.unravel_index(row, x.shape[:-1]))
    assert_law(
        out[index],
        rmsnorm(d_model, eps, gain, x[index]),
        f"RMSNorm(x)[{index}] == RMSNorm(x[{index}])",
        inputs={"x": x, "gain": gain, "eps": eps},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), eps=EPSILONS, layout=st.sampled_from(LAYOUTS))
def test_dtype_shape_and_layout(implementation, device, dtype, data, eps, layout):
    """RMSNorm of (b1, b2, d_model) has x's shape, dtype and device, and the contiguous copy's value in every layout.

    The layouts: contiguous; every other element of a wider buffer; dims stored in reverse, so that ``.view`` cannot
    merge the leading dims. The gain takes the same layout.

    Zero and one leading dims: test_extreme_magnitudes checks shape and dtype there.
    """
    rmsnorm = implementation("run_rmsnorm")
    d_model, x, gain, _ = _problem(data, dtype, device, min_lead_dims=2)
    x_in, gain_in = with_layout(x, layout), with_layout(gain, layout)
    inputs = {"x": x_in, "gain": gain_in, "eps": eps, "layout": layout}
    out = rmsnorm(d_model, eps, gain_in, x_in)
    assert_tensor(out, "RMSNorm returns x's shape and dtype", shape=x.shape, dtype=dtype, device=device, inputs=inputs)
    assert_law(out, rmsnorm(d_model, eps, gain, x), f"RMSNorm({layout} x) == RMSNorm(contiguous x)", inputs=inputs)


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_rmsnorm``, drawn (shared by the differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 3, 3), label="leading dims")
    d_model = data.draw(st.integers(1, 16), label="d_model")
    scale = data.draw(st.sampled_from([1.0, 1e-3, 100.0]), label="scale")
    arguments = {
        "d_model": d_model,
        "eps": data.draw(st.sampled_from([1e-5, 1e-6, 0.1]), label="eps"),
        "weights": gain(data, d_model, dtype, device, "weights"),
        "in_features": floats(data, (*lead, d_model), dtype, device, "in_features", scale=scale),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_rmsnorm = x / sqrt(mean(x², -1) + eps) · g, computed in float32 at least, in x's dtype."""
    agrees(implementation, "run_rmsnorm", _arguments(data, dtype, device), dtype=dtype, device=device)


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), seed=seeds())
def test_input_gradient_orthogonal_to_input(implementation, device, dtype, data, seed):
    """With unit gain and eps = 0, RMSNorm(c·x) = RMSNorm(x), so its Jacobian maps x to 0 and the input gradient for
    any cotangent g is orthogonal to x: ⟨∂⟨g, RMSNorm(x)⟩/∂x, x⟩ = 0 for every row.

    Exactly, v = (g − x ⟨g, x⟩/(d·rms²))/rms; each term rounds by a few ulps of its two parts, hence the bound.
    """
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    d_model = data.draw(st.integers(2, 16), label="d_model")
    x = make_tensor(seed, (*lead, d_model), dtype, device)
    g = make_tensor(seed + 1, (*lead, d_model), dtype, device)
    ones = torch.ones(d_model, dtype=dtype, device=device)
    arguments = {"d_model": d_model, "eps": 0.0, "weights": ones, "in_features": x}
    v = gradients(implementation, "run_rmsnorm", arguments, ["in_features"], g)["in_features"]
    assert_tensor(v, "the gradient has the input's shape", shape=x.shape, inputs={"x": x})
    x64, g64 = x.to("cpu", torch.float64), g.to("cpu", torch.float64)
    rms = x64.pow(2).mean(-1, keepdim=True).sqrt()
    terms = x64.abs() * (g64.abs() + x64.abs() * (g64 * x64).sum(-1, keepdim=True).abs() / (d_model * rms**2)) / rms
    u = torch.finfo(dtype).eps / 2
    inner = (v.to("cpu", torch.float64) * x64).sum(-1)
    assert_law(
        inner,
        torch.zeros_like(inner),
        "⟨∂⟨g, RMSNorm(x)⟩/∂x, x⟩ == 0 per row, for unit gain and eps = 0",
        tol=Tolerance(0.0, (4 * (d_model + 2) * u * terms.sum(-1)).max().item(), f"{dtype}: 4·(d+2) ulps of the terms"),
        inputs={"x": x, "cotangent": g},
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_rmsnorm", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_rmsnorm", _arguments(data, dtype, device))
