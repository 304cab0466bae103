"""Properties of ``run_multihead_self_attention`` and ``run_multihead_self_attention_with_rope``.

A law that holds for both adapters is checked on both: each example draws which
one it calls (``rope``). Causality: changing any input after position i (features, RoPE positions)
leaves outputs ``0 … i`` unchanged, exactly even in low precision (masked keys contribute exact zeros), and a
prefix of the input gives the prefix of the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor
from harness.differential import DTYPES, agrees, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import ATTENTION_WEIGHT_NAMES, attention_weights, make_tensor, noncontiguous, with_new_future
from harness.strategies import (
    ALL_FLOATS,
    WIDE_FLOATS,
    attention_layouts,
    broadcastable_shapes,
    floats,
    head_layouts,
    index_tensor,
    projections,
    rope_thetas,
    secondary_settings,
    seeds,
    shapes,
)

pytestmark = pytest.mark.adapters("run_multihead_self_attention", "run_multihead_self_attention_with_rope")

MAX_SEQ_LEN = 64
# A law that holds for both adapters draws which one each example calls: each gets about half the examples
# for half the cost of a parametrization.
ADAPTER = st.booleans()


@dataclass(frozen=True)
class Problem:
    """One attention call's arguments, all from ``seed``; ``positions`` has x's leading shape, a row per example."""

    num_heads: int
    d_model: int
    theta: float
    seed: int
    x: torch.Tensor
    weights: dict[str, torch.Tensor]
    positions: torch.Tensor

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example: sizes and the seed, not tensors
        return (
            f"Problem(num_heads={self.num_heads}, d_model={self.d_model}, x.shape={tuple(self.x.shape)}, "
            f"theta={self.theta}, seed={self.seed})"
        )

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads

    def inputs(self, rope: bool, **extra: object) -> dict[str, object]:
        shown: dict[str, object] = {"num_heads": self.num_heads, "x": self.x}
        if rope:
            shown |= {"theta": self.theta, "token_positions": self.positions}
        return shown | extra


@st.composite
def attention_problems(draw: st.DrawFn, dtype, device, min_lead_dims: int = 0, min_seq: int = 1) -> Problem:
    """Positions lie below MAX_SEQ_LEN / 2, which leaves room to shift them."""
    num_heads, d_model = draw(attention_layouts())
    lead = draw(shapes(min_lead_dims, 2, 3))
    seq = draw(st.integers(min_seq, 8))
    theta = draw(rope_thetas())
    seed = draw(seeds())
    generator = torch.Generator().manual_seed(seed + len(ATTENTION_WEIGHT_NAMES) + 1)
    return Problem(
        num_heads=num_heads,
        d_model=d_model,
        theta=theta,
        seed=seed,
        x=make_tensor(seed, (*lead, seq, d_model), dtype, device),
        weights=attention_weights(seed + 1, d_model, dtype, device),
        positions=torch.randint(0, MAX_SEQ_LEN // 2, (*lead, seq), generator=generator).to(device),
    )


def draw_problem(data, dtype, device, *, min_lead_dims=0, min_seq=1) -> Problem:
    return data.draw(attention_problems(dtype, device, min_lead_dims, min_seq), label="problem")


def attend(implementation, rope: bool, problem: Problem, *, x=None, weights=None, token_positions=...):
    """Call the adapter under test; ``token_positions=...`` means the problem's own, ``None`` passes None."""
    x = problem.x if x is None else x
    weights = problem.weights if weights is None else weights
    if not rope:
        return implementation("run_multihead_self_attention")(
            d_model=problem.d_model, num_heads=problem.num_heads, **weights, in_features=x
        )
    return implementation("run_multihead_self_attention_with_rope")(
        d_model=problem.d_model,
        num_heads=problem.num_heads,
        max_seq_len=MAX_SEQ_LEN,
        theta=problem.theta,
        **weights,
        in_features=x,
        token_positions=problem.positions if token_positions is ... else token_positions,
    )


def rope_float64(x: torch.Tensor, token_positions: torch.Tensor, theta: float) -> torch.Tensor:
    """SPEC §1 RoPE written out: pair ``(x[2k], x[2k+1])`` at position p rotates by ``p · Θ^(-2k/d)``."""
    d = x.shape[-1]
    frequencies = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = token_positions.to("cpu", torch.float64)[..., None] * frequencies
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


def causal_attention_float64(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``softmax(QKᵀ/√d_k + M) V`` with M = -inf above the diagonal, in float64."""
    seq = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    return torch.softmax(scores.masked_fill(future, -math.inf), dim=-1) @ v


def head_rows(head: int, d_head: int) -> slice:
    return slice(head * d_head, (head + 1) * d_head)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_output_has_the_input_shape_dtype_and_device(implementation, device, dtype, rope, data):
    """MHA maps ``(..., seq, d_model)`` to ``(..., seq, d_model)`` in the input's dtype and device.

    Leading dims are none, ``(batch,)`` or ``(b1, b2)`` drawn apart from the head count, the input may be
    non-contiguous, and positions come as ``(seq,)``, ``(1, seq)`` or the full ``(..., seq)``.
    """
    problem = draw_problem(data, dtype, device)
    x = noncontiguous(problem.x) if data.draw(st.booleans(), label="non-contiguous x") else problem.x
    shape = data.draw(broadcastable_shapes(tuple(problem.positions.shape)), label="positions shape")
    dropped = problem.positions[(0,) * (problem.positions.dim() - len(shape))]
    token_positions = dropped[tuple(slice(0, side) for side in shape)]
    out = attend(implementation, rope, problem, x=x, token_positions=token_positions)
    assert_tensor(
        out,
        "MHA output has the input's shape, dtype and device",
        shape=x.shape,
        dtype=dtype,
        device=device,
        inputs=problem.inputs(rope, token_positions=token_positions),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_jointly_permuting_heads_leaves_output_unchanged(implementation, device, dtype, rope, data):
    """Permuting the head blocks of the q/k/v rows and the matching o_proj columns leaves MHA unchanged.

    Heads are an unordered set: output = Σ_j o_proj[:, head j] · head_j, whatever order they are stored in.
    """
    problem = draw_problem(data, dtype, device)
    order = data.draw(st.permutations(range(problem.num_heads)), label="head order")
    rows = torch.cat([torch.arange(problem.d_model)[head_rows(j, problem.d_head)] for j in order]).to(device)
    w = problem.weights
    permuted = {
        "q_proj_weight": w["q_proj_weight"][rows],
        "k_proj_weight": w["k_proj_weight"][rows],
        "v_proj_weight": w["v_proj_weight"][rows],
        "o_proj_weight": w["o_proj_weight"][:, rows],
    }
    assert_law(
        attend(implementation, rope, problem, weights=permuted),
        attend(implementation, rope, problem),
        f"MHA with heads stored in order {list(order)} equals MHA with heads in order 0…{problem.num_heads - 1}",
        inputs=problem.inputs(rope),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_one_head_is_causal_sdpa_on_its_projections(implementation, device, dtype, rope, data):
    """With o_proj zero outside head j's columns, MHA = o_j · softmax(q_j k_jᵀ/√d_k + causal) v_j.

    q_j, k_j, v_j are x times rows ``[j·d_k, (j+1)·d_k)`` of each projection, d_k = d_model / num_heads,
    rotated by RoPE at ``token_positions`` (q and k only) in the RoPE adapter; the truth is float64 math here.
    """
    problem = draw_problem(data, dtype, device)
    head = data.draw(st.integers(0, problem.num_heads - 1), label="head")
    rows = head_rows(head, problem.d_head)
    weights = dict(problem.weights)
    o_proj = torch.zeros_like(weights["o_proj_weight"])
    o_proj[:, rows] = weights["o_proj_weight"][:, rows]
    weights["o_proj_weight"] = o_proj

    x, w = problem.x.to("cpu", torch.float64), {k: v.to("cpu", torch.float64) for k, v in weights.items()}
    q, k, v = (x @ w[f"{name}_proj_weight"][rows].T for name in "qkv")
    if rope:
        q, k = rope_float64(q, problem.positions, problem.theta), rope_float64(k, problem.positions, problem.theta)
    expected = causal_attention_float64(q, k, v) @ w["o_proj_weight"][:, rows].T
    assert_law(
        attend(implementation, rope, problem, weights=weights),
        expected,
        f"MHA through head {head} alone is causal SDPA on that head's projections (d_k = {problem.d_head})",
        inputs=problem.inputs(rope, head=head),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_batch_elements_are_independent(implementation, device, dtype, data, rope):
    """MHA(x)[i] = MHA(x[i]) for an index i of the leading dims (with its own positions row under RoPE).

    The batch is drawn independently of the head count: confusing the two axes mixes examples.
    """
    problem = draw_problem(data, dtype, device, min_lead_dims=1)
    at = tuple(data.draw(st.integers(0, side - 1), label="index") for side in problem.x.shape[:-2])
    assert_law(
        attend(implementation, rope, problem)[at],
        attend(implementation, rope, problem, x=problem.x[at], token_positions=problem.positions[at]),
        f"MHA of the whole batch at {at} equals MHA of x{list(at)} alone",
        inputs=problem.inputs(rope, index=at),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), shift=st.integers(1, MAX_SEQ_LEN // 2 - 1))
def test_rope_global_position_shift_leaves_output_unchanged(implementation, device, dtype, data, shift):
    """RoPE scores depend on position differences only: positions p + c give the same output as p."""
    problem = draw_problem(data, dtype, device)
    assert_law(
        attend(implementation, True, problem, token_positions=problem.positions + shift),
        attend(implementation, True, problem),
        f"MHA with RoPE at positions p + {shift} equals MHA at positions p",
        inputs=problem.inputs(True, shift=shift),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_rope_never_touches_values(implementation, device, dtype, data):
    """RoPE rotates q and k, never v: with q_proj = 0 every score is 0 and MHA is the causal mean of the values.

    So out_i = o_proj · mean_{j ≤ i} (v_proj x_j) whatever the positions are; the truth is float64 math here.
    """
    problem = draw_problem(data, dtype, device)
    weights = dict(problem.weights, q_proj_weight=torch.zeros_like(problem.weights["q_proj_weight"]))
    x, w = problem.x.to("cpu", torch.float64), {k: v.to("cpu", torch.float64) for k, v in weights.items()}
    v = x @ w["v_proj_weight"].T
    counts = torch.arange(1, v.shape[-2] + 1, dtype=torch.float64)[:, None]
    expected = (v.cumsum(-2) / counts) @ w["o_proj_weight"].T
    assert_law(
        attend(implementation, True, problem, weights=weights),
        expected,
        "MHA with RoPE and q_proj = 0 is o_proj of the causal running mean of v_proj x, at any positions",
        inputs=problem.inputs(True),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_rope_positions_none_mean_zero_to_seq_minus_one(implementation, device, dtype, data):
    """``token_positions=None`` means positions ``0 … seq-1`` (SPEC §4)."""
    problem = draw_problem(data, dtype, device)
    seq = problem.x.shape[-2]
    assert_law(
        attend(implementation, True, problem, token_positions=None),
        attend(implementation, True, problem, token_positions=torch.arange(seq, device=device)),
        "MHA with RoPE and token_positions=None equals token_positions = arange(seq)",
        inputs=problem.inputs(True),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_rope_positions_broadcast_over_leading_dimensions(implementation, device, dtype, data):
    """Positions ``(seq,)`` or ``(1, seq)`` act like the same row repeated for every example (SPEC §4)."""
    problem = draw_problem(data, dtype, device, min_lead_dims=1)
    row = problem.positions.reshape(-1, problem.positions.shape[-1])[0]
    shape = data.draw(st.sampled_from([(row.shape[-1],), (1, row.shape[-1])]), label="positions shape")
    assert_law(
        attend(implementation, True, problem, token_positions=row.reshape(shape)),
        attend(implementation, True, problem, token_positions=row.expand(problem.positions.shape)),
        f"MHA with RoPE at positions of shape {shape} equals the row repeated to {tuple(problem.positions.shape)}",
        inputs=problem.inputs(True, token_positions=row.reshape(shape)),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_rope_at_one_constant_position_is_attention_without_rope(implementation, device, dtype, data):
    """Every token at the same position p: q and k turn by one rotation, which cancels in q·k, so MHA with
    RoPE equals MHA without it (and v, never rotated, is untouched)."""
    problem = draw_problem(data, dtype, device)
    constant = torch.full_like(problem.positions, data.draw(st.integers(0, MAX_SEQ_LEN - 1), label="position"))
    assert_law(
        attend(implementation, True, problem, token_positions=constant),
        attend(implementation, False, problem),
        "run_multihead_self_attention_with_rope at one constant position equals run_multihead_self_attention",
        inputs=problem.inputs(True, token_positions=constant),
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_multihead_self_attention``, drawn (differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seq = data.draw(st.integers(1, 6), label="seq")
    num_heads, d_head = data.draw(st.integers(1, 4), label="num_heads"), data.draw(st.integers(1, 5), label="d_head")
    d_model = num_heads * d_head
    return {
        "d_model": d_model,
        "num_heads": num_heads,
        **projections(data, num_heads, d_model, dtype, device),
        "in_features": floats(data, (*lead, seq, d_model), dtype, device, "in_features"),
    }


def _arguments_with_rope(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_multihead_self_attention_with_rope``, drawn; positions drawn, None or omitted."""
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seq = data.draw(st.integers(1, 6), label="seq")
    num_heads, d_model = data.draw(head_layouts(max_heads=4, max_d_head=6), label="(num_heads, d_model)")
    max_seq_len = data.draw(st.integers(seq, 32), label="max_seq_len")
    arguments = {
        "d_model": d_model,
        "num_heads": num_heads,
        "max_seq_len": max_seq_len,
        "theta": data.draw(st.sampled_from([10000.0, 500000, 100.0, 2.5]), label="theta"),
        **projections(data, num_heads, d_model, dtype, device),
        "in_features": floats(data, (*lead, seq, d_model), dtype, device, "in_features"),
    }
    positions = data.draw(st.sampled_from(["drawn", "None", "omitted"]), label="token_positions")
    if positions == "drawn":
        shape = data.draw(broadcastable_shapes((*lead, seq)), label="token_positions shape")
        arguments["token_positions"] = index_tensor(data, shape, max_seq_len, device, "token_positions")
    elif positions == "None":
        arguments["token_positions"] = None
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_multihead_self_attention: causal, head j uses projection rows [j·d_k, (j+1)·d_k); no RoPE."""
    arguments = _arguments(data, dtype, device)
    agrees(implementation, "run_multihead_self_attention", arguments, dtype=dtype, device=device)


@DTYPES
@given(data=st.data())
def test_agrees_with_reference_with_rope(implementation, device, dtype, data):
    """run_multihead_self_attention_with_rope: the same positions rotate q and k of every head; None = 0 … seq-1."""
    arguments = _arguments_with_rope(data, dtype, device)
    agrees(implementation, "run_multihead_self_attention_with_rope", arguments, dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), rope=ADAPTER, seed=seeds())
def test_attention_outputs_ignore_later_inputs(implementation, device, dtype, data, rope, seed):
    """MHA(x')[..., :i+1, :] = MHA(x)[..., :i+1, :] when x' (and, with RoPE, its positions) differ only after i."""
    problem = draw_problem(data, dtype, device, min_seq=2)
    x, positions = problem.x, problem.positions
    last = data.draw(st.integers(0, x.shape[-2] - 2), label="last unchanged position i")
    new_x = with_new_future(x, make_tensor(seed, tuple(x.shape), dtype, device, scale=3.0), last, dim=-2)
    moved = torch.randint(0, MAX_SEQ_LEN, positions.shape, generator=torch.Generator().manual_seed(seed))
    new_positions = with_new_future(positions, moved.to(positions), last, dim=-1)
    assert_law(
        attend(implementation, rope, problem, x=new_x, token_positions=new_positions)[..., : last + 1, :],
        attend(implementation, rope, problem)[..., : last + 1, :],
        f"MHA outputs at positions ≤ {last} do not change when inputs after {last} change",
        inputs=problem.inputs(rope, last_unchanged=last),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_attention_of_a_prefix_is_the_prefix_of_attention(implementation, device, dtype, data, rope):
    """MHA(x[..., :t, :]) = MHA(x)[..., :t, :] (with RoPE: positions truncated alike, or None for both)."""
    problem = draw_problem(data, dtype, device)
    t = data.draw(st.integers(1, problem.x.shape[-2]), label="prefix length t")
    default_positions = data.draw(st.booleans(), label="token_positions=None")
    positions = None if default_positions else problem.positions
    prefix_positions = None if default_positions else problem.positions[..., :t]
    assert_law(
        attend(implementation, rope, problem, x=problem.x[..., :t, :], token_positions=prefix_positions),
        attend(implementation, rope, problem, token_positions=positions)[..., :t, :],
        f"MHA of the first {t} positions equals the first {t} positions of MHA",
        inputs=problem.inputs(rope, prefix=t, positions_none=default_positions),
    )


@pytest.mark.aspect("gradients")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER, seed=seeds())
def test_gradient_is_causal(implementation, device, dtype, data, rope, seed):
    """∂MHA(x)_i/∂x_j = 0 exactly for j > i: a cotangent on the outputs up to position i sends no gradient to later
    inputs. Masked scores get probability exactly 0, so no rounding makes these gradients nonzero."""
    adapter = "run_multihead_self_attention_with_rope" if rope else "run_multihead_self_attention"
    arguments = (_arguments_with_rope if rope else _arguments)(data, dtype, device)
    x = arguments["in_features"]
    last = data.draw(st.integers(0, max(0, x.shape[-2] - 2)), label="last position with a cotangent i")
    g = make_tensor(seed, tuple(x.shape), dtype, device)
    g[..., last + 1 :, :] = 0
    later = gradients(implementation, adapter, arguments, ["in_features"], g)["in_features"][..., last + 1 :, :]
    assert_law(
        later,
        torch.zeros_like(later),
        f"∂MHA(x)[..., :{last + 1}, :]/∂x[..., {last + 1}:, :] == 0",
        tol=Tolerance(0.0, 0.0, "exact: masked keys get probability 0"),
        inputs={"x": x, "cotangent": g},
    )


@pytest.mark.aspect("gradients")
@pytest.mark.adapters("run_multihead_self_attention")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(implementation, "run_multihead_self_attention", arguments, seed=seed, dtype=dtype, device=device)


@pytest.mark.aspect("side-effects")
@pytest.mark.adapters("run_multihead_self_attention")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_multihead_self_attention", _arguments(data, dtype, device))


@pytest.mark.aspect("gradients")
@pytest.mark.adapters("run_multihead_self_attention_with_rope")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference_with_rope(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to in_features, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments_with_rope(data, dtype, device)
    gradient_agrees(
        implementation, "run_multihead_self_attention_with_rope", arguments, seed=seed, dtype=dtype, device=device
    )


@pytest.mark.aspect("side-effects")
@pytest.mark.adapters("run_multihead_self_attention_with_rope")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged_with_rope(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(
        implementation, "run_multihead_self_attention_with_rope", _arguments_with_rope(data, dtype, device)
    )
