"""Properties of ``run_transformer_block``, the pre-norm block of SPEC §1.

``y = x + MHA(RMSNorm₁ x)`` and ``z = y + SwiGLU(RMSNorm₂ y)``, MHA with RoPE at positions ``0 … seq-1``.

Causality: changing inputs after position i leaves outputs up to i unchanged, and a prefix of the input
gives the prefix of the output (float64/float32: calls of different lengths round differently).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import block_weights, make_tensor, noncontiguous, norm_gain, with_new_future
from harness.strategies import (
    ALL_FLOATS,
    WIDE_FLOATS,
    attention_layouts,
    floats,
    head_layouts,
    layer_weights,
    rope_thetas,
    secondary_settings,
    seeds,
)

pytestmark = pytest.mark.adapters("run_transformer_block")

NORM_EPS = 1e-5  # SPEC §1: every RMSNorm of the course model
# Zeroing one of these silences a residual branch: its output is exactly 0 whatever its input.
BRANCH_OUTPUT = {"attention": "attn.output_proj.weight", "ffn": "ffn.w2.weight"}
BRANCH_NORM = {"attention": "ln1.weight", "ffn": "ln2.weight"}


@dataclass(frozen=True)
class BlockProblem:
    num_heads: int
    d_model: int
    d_ff: int
    max_seq_len: int
    theta: float
    seed: int
    x: torch.Tensor
    weights: dict[str, torch.Tensor]

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example: sizes and the seed, not tensors
        return (
            f"BlockProblem(num_heads={self.num_heads}, d_model={self.d_model}, d_ff={self.d_ff}, "
            f"max_seq_len={self.max_seq_len}, theta={self.theta}, x.shape={tuple(self.x.shape)}, seed={self.seed})"
        )

    def inputs(self, **extra: object) -> dict[str, object]:
        sizes = {"num_heads": self.num_heads, "d_ff": self.d_ff, "max_seq_len": self.max_seq_len, "theta": self.theta}
        return sizes | {"x": self.x} | extra


@st.composite
def block_problems(draw: st.DrawFn, dtype, device, min_seq: int = 1) -> BlockProblem:
    num_heads, d_model = draw(attention_layouts())
    d_ff = draw(st.integers(1, 24))
    lead = (draw(st.integers(1, 3)),)  # (batch, seq, d_model), as the course annotates the block (SPEC §4)
    seq = draw(st.integers(min_seq, 8))
    max_seq_len = draw(st.integers(seq, 16))
    theta = draw(rope_thetas())
    seed = draw(seeds())
    return BlockProblem(
        num_heads=num_heads,
        d_model=d_model,
        d_ff=d_ff,
        max_seq_len=max_seq_len,
        theta=theta,
        seed=seed,
        x=make_tensor(seed, (*lead, seq, d_model), dtype, device),
        weights=block_weights(seed + 1, d_model, d_ff, dtype, device),
    )


def draw_block_problem(data, dtype, device, *, min_seq=1) -> BlockProblem:
    return data.draw(block_problems(dtype, device, min_seq), label="problem")


def run_block(implementation, problem: BlockProblem, *, x=None, weights=None) -> torch.Tensor:
    return implementation("run_transformer_block")(
        d_model=problem.d_model,
        num_heads=problem.num_heads,
        d_ff=problem.d_ff,
        max_seq_len=problem.max_seq_len,
        theta=problem.theta,
        weights=problem.weights if weights is None else weights,
        in_features=problem.x if x is None else x,
    )


def silenced(weights: dict[str, torch.Tensor], *branches: str) -> dict[str, torch.Tensor]:
    return weights | {BRANCH_OUTPUT[b]: torch.zeros_like(weights[BRANCH_OUTPUT[b]]) for b in branches}


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_output_has_the_input_shape_dtype_and_device(implementation, device, dtype, data):
    """The block maps ``(..., seq, d_model)`` to the same shape, dtype and device.

    Leading dims are none, ``(batch,)`` or ``(b1, b2)``, drawn apart from the head count; x may be non-contiguous.
    """
    problem = draw_block_problem(data, dtype, device)
    x = noncontiguous(problem.x) if data.draw(st.booleans(), label="non-contiguous x") else problem.x
    assert_tensor(
        run_block(implementation, problem, x=x),
        "the block's output has its input's shape, dtype and device",
        shape=x.shape,
        dtype=dtype,
        device=device,
        inputs=problem.inputs(),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_zeroed_output_projections_make_the_block_the_identity(implementation, device, dtype, data):
    """With attn.output_proj = 0 and ffn.w2 = 0 both residual branches add exactly 0: block(x) = x.

    A norm on the residual stream itself (post-norm) or a missing residual connection breaks it. Exact in
    every dtype, but float16/bfloat16 add nothing here that the dtype test does not check, at 2.5× the cost.
    """
    problem = draw_block_problem(data, dtype, device)
    assert_law(
        run_block(implementation, problem, weights=silenced(problem.weights, "attention", "ffn")),
        problem.x,
        "block(x) = x when attn.output_proj and ffn.w2 are zero",
        inputs=problem.inputs(),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), branch=st.sampled_from(sorted(BRANCH_OUTPUT)), scale=st.sampled_from([0.5, 2.0, 4.0]))
def test_residual_branches_see_the_normalised_input(implementation, device, dtype, data, branch, scale):
    """Pre-norm: a branch reads RMSNorm(x), which forgets the scale of x, and adds to x unnormalised.

    With only ``branch`` live, block(c·x) − c·x = block(x) − x for c > 0; the norm's eps makes it hold up to
    the factor 1 + δ by which eps changes RMSNorm(c·x) against RMSNorm(x).
    """
    problem = draw_block_problem(data, dtype, device)
    other = "ffn" if branch == "attention" else "attention"
    weights = silenced(problem.weights, other)
    # Rows of root-mean-square exactly 1 keep eps's share, and so δ, below 1e-5 (a random row can be tiny).
    wide = problem.x.double()
    x = (wide / wide.square().mean(-1, keepdim=True).sqrt()).to(dtype)
    increment = run_block(implementation, problem, x=x, weights=weights).double() - x.double()
    expected = scale * x.double() + increment
    mean_square = x.double().square().mean(-1).min().item()
    delta = NORM_EPS / (2 * mean_square) * abs(1 - scale**-2)
    base = tolerance(dtype)
    # δ scales the branch's input row by row, and a smooth branch moves by a few δ of its size: at most 2.5δ on
    # the reference over 1800 draws of sizes, c and branch; 8δ leaves room without letting a wrong block through.
    tol = Tolerance(
        base.rtol,
        base.atol + 8 * delta * max(1.0, increment.abs().max().item()),
        f"RMSNorm eps={NORM_EPS} over min mean(x²)={mean_square:.3g}: branch input off by δ={delta:.2g}",
    )
    assert_law(
        run_block(implementation, problem, x=scale * x, weights=weights),
        expected,
        f"with only the {branch} branch live, block({scale}·x) = {scale}·x + (block(x) − x)",
        tol=tol,
        inputs=problem.inputs(branch=branch, scale=scale),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), branch=st.sampled_from(sorted(BRANCH_OUTPUT)), seed=seeds())
def test_each_norm_gain_feeds_only_its_own_branch(implementation, device, dtype, data, branch, seed):
    """ln1 feeds only attention and ln2 only the FFN: with ``branch`` silenced, its norm's gain is irrelevant."""
    problem = draw_block_problem(data, dtype, device)
    weights = silenced(problem.weights, branch)
    changed = weights | {BRANCH_NORM[branch]: norm_gain(seed, problem.d_model, dtype, device)}
    assert_law(
        run_block(implementation, problem, weights=changed),
        run_block(implementation, problem, weights=weights),
        f"with the {branch} branch silenced, changing {BRANCH_NORM[branch]} leaves the block unchanged",
        inputs=problem.inputs(branch=branch),
    )


@pytest.mark.adapters("run_transformer_block", "run_rmsnorm", "run_multihead_self_attention_with_rope", "run_swiglu")
@pytest.mark.finding("composition")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_block_is_the_pre_norm_composition_of_its_components(implementation, device, dtype, data):
    """block(x) = y + SwiGLU(RMSNorm₂ y) with y = x + MHA(RMSNorm₁ x), MHA with RoPE at positions 0 … seq-1,
    each part computed by the implementation's own adapters (run_rmsnorm, run_multihead_self_attention_with_rope,
    run_swiglu) with the block's sizes, theta and eps = 1e-5."""
    problem = draw_block_problem(data, dtype, device)
    rmsnorm = implementation("run_rmsnorm")
    attention = implementation("run_multihead_self_attention_with_rope")
    swiglu = implementation("run_swiglu")
    w, d_model = problem.weights, problem.d_model
    attended = attention(
        d_model=d_model,
        num_heads=problem.num_heads,
        max_seq_len=problem.max_seq_len,
        theta=problem.theta,
        q_proj_weight=w["attn.q_proj.weight"],
        k_proj_weight=w["attn.k_proj.weight"],
        v_proj_weight=w["attn.v_proj.weight"],
        o_proj_weight=w["attn.output_proj.weight"],
        in_features=rmsnorm(d_model=d_model, eps=NORM_EPS, weights=w["ln1.weight"], in_features=problem.x),
        token_positions=torch.arange(problem.x.shape[-2], device=device),
    )
    y = problem.x + attended
    z = y + swiglu(
        d_model=d_model,
        d_ff=problem.d_ff,
        w1_weight=w["ffn.w1.weight"],
        w2_weight=w["ffn.w2.weight"],
        w3_weight=w["ffn.w3.weight"],
        in_features=rmsnorm(d_model=d_model, eps=NORM_EPS, weights=w["ln2.weight"], in_features=y),
    )
    assert_law(
        run_block(implementation, problem),
        z,
        "run_transformer_block = x + MHA(RMSNorm₁ x), then + SwiGLU(RMSNorm₂ ·), from the implementation's own parts",
        inputs=problem.inputs(),
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device, lead: tuple[int, ...]) -> dict:
    """Every argument of ``run_transformer_block``, drawn (differential, gradient and side-effect checks)."""
    seq = data.draw(st.integers(1, 6), label="seq")
    num_heads, d_model = data.draw(head_layouts(max_heads=4, max_d_head=6), label="(num_heads, d_model)")
    d_ff = data.draw(st.integers(1, 16), label="d_ff")
    return {
        "d_model": d_model,
        "num_heads": num_heads,
        "d_ff": d_ff,
        "max_seq_len": data.draw(st.integers(seq, 16), label="max_seq_len"),
        "theta": data.draw(st.sampled_from([10000.0, 500000, 100.0, 2.5]), label="theta"),
        "weights": layer_weights(data, d_model, d_ff, dtype, device),
        "in_features": floats(data, (*lead, seq, d_model), dtype, device, "in_features"),
    }


def _batch(data: st.DataObject) -> tuple[int]:
    """The one leading dim the course annotates: (batch, seq, d_model)."""
    return (data.draw(st.integers(1, 3), label="batch"),)


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_transformer_block: y = x + MHA(RMSNorm₁(x)) with RoPE at 0 … seq-1, z = y + SwiGLU(RMSNorm₂(y))."""
    arguments = _arguments(data, dtype, device, _batch(data))
    agrees(implementation, "run_transformer_block", arguments, dtype=dtype, device=device)


@pytest.mark.finding("rank")
@given(data=st.data())
def test_agrees_with_reference_on_ranks_the_course_does_not_annotate(implementation, device, data):
    """The block on (seq, d_model) and (b1, b2, seq, d_model) inputs. The course annotates it (batch, seq, d_model)
    and many correct submissions assume exactly that (``b, s, _ = x.shape``), so SPEC §4 makes other ranks a finding."""
    lead = data.draw(st.sampled_from([(), (2, 2), (1, 3)]), label="leading dims")
    agrees(
        implementation,
        "run_transformer_block",
        _arguments(data, torch.float32, device, lead),
        dtype=torch.float32,
        device=device,
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), seed=seeds())
def test_block_outputs_ignore_later_inputs(implementation, device, dtype, data, seed):
    """block(x')[..., :i+1, :] = block(x)[..., :i+1, :] when x' differs from x only after position i."""
    problem = draw_block_problem(data, dtype, device, min_seq=2)
    x = problem.x
    last = data.draw(st.integers(0, x.shape[-2] - 2), label="last unchanged position i")
    new_x = with_new_future(x, make_tensor(seed, tuple(x.shape), dtype, device, scale=3.0), last, dim=-2)
    assert_law(
        run_block(implementation, problem, x=new_x)[..., : last + 1, :],
        run_block(implementation, problem)[..., : last + 1, :],
        f"block outputs at positions ≤ {last} do not change when inputs after {last} change",
        inputs=problem.inputs(last_unchanged=last),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_block_of_a_prefix_is_the_prefix_of_the_block(implementation, device, dtype, data):
    """block(x[..., :t, :]) = block(x)[..., :t, :]."""
    problem = draw_block_problem(data, dtype, device)
    t = data.draw(st.integers(1, problem.x.shape[-2]), label="prefix length t")
    assert_law(
        run_block(implementation, problem, x=problem.x[..., :t, :]),
        run_block(implementation, problem)[..., :t, :],
        f"block of the first {t} positions equals the first {t} positions of the block",
        inputs=problem.inputs(prefix=t),
    )


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), seed=seeds())
def test_gradient_is_causal(implementation, device, dtype, data, seed):
    """∂block(x)_i/∂x_j = 0 exactly for j > i: a cotangent on the outputs up to position i sends no gradient to later
    inputs (RMSNorm and SwiGLU act per position; attention gives masked keys probability exactly 0)."""
    arguments = _arguments(data, dtype, device, _batch(data))
    x = arguments["in_features"]
    last = data.draw(st.integers(0, max(0, x.shape[-2] - 2)), label="last position with a cotangent i")
    g = make_tensor(seed, tuple(x.shape), dtype, device)
    g[..., last + 1 :, :] = 0
    later = gradients(implementation, "run_transformer_block", arguments, ["in_features"], g)["in_features"]
    later = later[..., last + 1 :, :]
    assert_law(
        later,
        torch.zeros_like(later),
        f"∂block(x)[..., :{last + 1}, :]/∂x[..., {last + 1}:, :] == 0",
        tol=Tolerance(0.0, 0.0, "exact: masked keys get probability 0"),
        inputs={"x": x, "cotangent": g},
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device, _batch(data))
    gradient_agrees(implementation, "run_transformer_block", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_transformer_block", _arguments(data, dtype, device, _batch(data)))
