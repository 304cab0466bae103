"""Properties of ``run_scaled_dot_product_attention(Q, K, V, mask=None)`` (SPEC §1, §4).

``softmax(QKᵀ/√d_k + M) V`` with ``Q (..., n, d_k)``, ``K (..., m, d_k)``, ``V (..., m, d_v)`` and an
optional boolean ``mask (..., n, m)``, True = may attend; ``mask=None`` is no masking at all. Every drawn
mask leaves each query at least one key (an all-masked query is undefined). Comparisons allow ``_tolerance``:
a first-order rounding bound for the dtype, scaled by how large the scores are.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import Tolerance, assert_law, assert_tensor
from harness.differential import DTYPES, agrees, gradient_agrees, leaves_inputs_unchanged
from harness.inputs import make_tensor, with_layout
from harness.strategies import (
    ALL_FLOATS,
    WIDE_FLOATS,
    attention_masks,
    floats,
    laid_out,
    lead_shapes,
    secondary_settings,
    seeds,
    shapes,
)

pytestmark = pytest.mark.adapters("run_scaled_dot_product_attention")

F64 = torch.float64


class AttentionCall(NamedTuple):
    Q: torch.Tensor
    K: torch.Tensor
    V: torch.Tensor
    mask: torch.Tensor | None

    def __call__(self, sdpa, **replace: torch.Tensor | None) -> torch.Tensor:
        """Call with some arguments replaced; ``mask=None`` is left out, so the default is what is tested."""
        Q, K, V, mask = self._replace(**replace)
        return sdpa(Q=Q, K=K, V=V) if mask is None else sdpa(Q=Q, K=K, V=V, mask=mask)

    def inputs(self, **replace: torch.Tensor | None) -> dict[str, object]:
        return self._replace(**replace)._asdict()

    def output_shape(self, **replace: torch.Tensor | None) -> tuple[int, ...]:
        Q, _, V, _ = self._replace(**replace)
        return (*Q.shape[:-1], V.shape[-1])


# Built once: a strategy made afresh for every example costs Hypothesis more than the example itself.
_LEAD, _SEQ, _FEATURES, _SEEDS = lead_shapes(3, 3), st.integers(1, 8), st.integers(1, 16), seeds()


@functools.cache
def attention_calls(
    dtype: torch.dtype, device: torch.device, masked: bool | None = None
) -> st.SearchStrategy[AttentionCall]:
    """2-D to 5-D inputs with unrelated n, m, d_k, d_v; a mask when ``masked`` (drawn when None)."""

    @st.composite
    def draw_call(draw: st.DrawFn) -> AttentionCall:
        lead, n, m, d_k, d_v = draw(_LEAD), draw(_SEQ), draw(_SEQ), draw(_FEATURES), draw(_FEATURES)
        seed = draw(_SEEDS)
        with_mask = draw(st.booleans()) if masked is None else masked
        return AttentionCall(
            Q=make_tensor(seed, (*lead, n, d_k), dtype, device),
            K=make_tensor(seed + 1, (*lead, m, d_k), dtype, device),
            V=make_tensor(seed + 2, (*lead, m, d_v), dtype, device),
            mask=draw(attention_masks((*lead, n, m), device)) if with_mask else None,
        )

    return draw_call()


def _f64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", F64)


def _score_size(Q: torch.Tensor, K: torch.Tensor) -> float:
    """``S = max Σ_l |q_l k_l| / √d_k``: how large a score's terms are, hence its rounding error."""
    if Q.numel() == 0 or K.numel() == 0:
        return 0.0
    return float((_f64(Q).abs() @ _f64(K).abs().mT).max()) / math.sqrt(Q.shape[-1])


def _tolerance(dtype: torch.dtype, call: AttentionCall, times: int = 1, V: torch.Tensor | None = None) -> Tolerance:
    """``times × 2ε(2 + S)·max|V|``: each score off by up to ~εS moves a weight by ~2εS relative; the
    softmax's exp, sum and division and the weighted sum add ~4ε.

    Assumes float32-or-wider accumulation, as PyTorch's CPU and CUDA half-precision matmuls do. Three
    correct implementations (the reference, einsum, torch's math SDPA) measured within 15% of it in
    every dtype, over 400 random draws each.
    """
    V = call.V if V is None else V
    eps = torch.finfo(dtype).eps
    size = _score_size(call.Q, call.K)
    atol = times * 2 * eps * (2 + size) * float(_f64(V).abs().max())
    return Tolerance(
        0.0, atol, f"{dtype} attention: {times}× 2ε(2 + S)·max|V| with S = {size:.3g} (first-order rounding)"
    )


def _identity_values(call: AttentionCall) -> torch.Tensor:
    """``V = I_m`` for every batch element, so that the output is the attention weights themselves."""
    m = call.K.shape[-2]
    eye = torch.eye(m, dtype=call.V.dtype, device=call.V.device)
    return eye.expand(*call.K.shape[:-2], m, m).contiguous()


def _scores64(call: AttentionCall) -> torch.Tensor:
    return _f64(call.Q) @ _f64(call.K).mT / math.sqrt(call.Q.shape[-1])


def _allowed(call: AttentionCall) -> torch.Tensor:
    """The mask in full ``(..., n, m)`` shape on the CPU; all True for ``mask=None``."""
    shape = (*call.Q.shape[:-1], call.K.shape[-2])
    return torch.ones(shape, dtype=torch.bool) if call.mask is None else call.mask.cpu().expand(shape)


def _permutation(data: st.DataObject, size: int, label: str) -> torch.Tensor:
    """A permutation from one drawn seed (``st.permutations`` costs a draw per element)."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(data.draw(_SEEDS, label=label)))


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_output_has_query_rows_value_width_and_input_dtype(implementation, device, dtype, data):
    """attention(Q, K, V) has shape (..., n, d_v), Q's dtype and device, with or without a mask."""
    call = data.draw(attention_calls(dtype, device), label="call")
    assert_tensor(
        call(implementation("run_scaled_dot_product_attention")),
        "attention(Q, K, V) is (..., n, d_v) in the inputs' dtype and device",
        shape=call.output_shape(),
        dtype=dtype,
        device=device,
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_attention_weights_are_probability_distributions(implementation, device, dtype, data):
    """The weights (the output for V = I) are ≥ 0 and every query's row sums to 1."""
    call = data.draw(attention_calls(dtype, device), label="call")
    eye = _identity_values(call)
    weights = call(implementation("run_scaled_dot_product_attention"), V=eye)
    assert_tensor(weights, "attention(Q, K, I) is (..., n, m)", shape=call.output_shape(V=eye), inputs=call.inputs())
    weights = _f64(weights)
    tol = _tolerance(dtype, call, V=eye)
    assert_law(weights.clamp(max=0), torch.zeros_like(weights), "attention weights ≥ 0", tol=tol, inputs=call.inputs())
    sums = weights.sum(-1)
    m = call.K.shape[-2]
    assert_law(
        sums,
        torch.ones_like(sums),
        "attention weights of each query sum to 1",
        tol=tol.scaled(m, f"{tol.reason}, for each of the m = {m} weights summed"),
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_output_rows_are_the_weights_applied_to_value_rows(implementation, device, dtype, data):
    """attention(Q, K, V) = attention(Q, K, I) · V: each output row is a combination of V's rows.

    With the weights' law above, the combination is convex.
    """
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    weights = call(sdpa, V=_identity_values(call))
    assert_tensor(
        weights, "attention(Q, K, I) is (..., n, m)", shape=call.output_shape(V=weights), inputs=call.inputs()
    )
    assert_law(
        call(sdpa),
        _f64(weights) @ _f64(call.V),
        "attention(Q, K, V) == attention(Q, K, I) @ V",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_all_true_mask_equals_no_mask(implementation, device, dtype, data):
    """attention(Q, K, V, mask=all True) = attention(Q, K, V): mask=None is no masking at all, not causal."""
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device, masked=False), label="call")
    everything = torch.ones((*call.Q.shape[:-1], call.K.shape[-2]), dtype=torch.bool, device=device)
    assert_law(
        call(sdpa),
        call(sdpa, mask=everything),
        "attention(Q, K, V) with mask=None == with an all-True mask",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(mask=everything),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_masked_keys_get_zero_weight(implementation, device, dtype, data):
    """attention(Q, K, I, mask)[..., i, j] = 0 wherever mask[..., i, j] is False (True = may attend)."""
    call = data.draw(attention_calls(dtype, device, masked=True), label="call")
    eye = _identity_values(call)
    weights = call(implementation("run_scaled_dot_product_attention"), V=eye)
    assert_tensor(weights, "attention(Q, K, I) is (..., n, m)", shape=call.output_shape(V=eye), inputs=call.inputs())
    leaked = torch.where(_allowed(call), 0.0, _f64(weights))
    assert_law(
        leaked,
        torch.zeros_like(leaked),
        "weight of a masked-out key (mask False) == 0",
        tol=_tolerance(dtype, call, V=eye),
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_keys_masked_for_every_query_are_as_if_removed(implementation, device, dtype, data):
    """Extra keys (any K, V rows) that the mask hides from every query change nothing: masked keys have no influence."""
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device, masked=True), label="call")
    lead, (m, d_k), d_v = call.K.shape[:-2], call.K.shape[-2:], call.V.shape[-1]
    hidden = data.draw(st.integers(1, 4), label="hidden keys")
    seed = data.draw(_SEEDS, label="hidden seed")
    # Hidden keys are large, so that any weight they get shows in the output.
    K_hidden = make_tensor(seed, (*lead, hidden, d_k), dtype, device, scale=4.0)
    V_hidden = make_tensor(seed + 1, (*lead, hidden, d_v), dtype, device, scale=4.0)
    order = _permutation(data, m + hidden, "key order seed").to(device)
    K_all = torch.cat((call.K, K_hidden), dim=-2)[..., order, :]
    V_all = torch.cat((call.V, V_hidden), dim=-2)[..., order, :]
    closed = torch.zeros((*call.mask.shape[:-1], hidden), dtype=torch.bool, device=device)
    mask_all = torch.cat((call.mask, closed), dim=-1)[..., order]
    assert_law(
        call(sdpa, K=K_all, V=V_all, mask=mask_all),
        call(sdpa),
        f"attention with {hidden} extra keys masked for every query == attention without them",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(K=K_all, V=V_all, mask=mask_all),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_permuting_keys_and_values_together_changes_nothing(implementation, device, dtype, data):
    """attention(Q, K[π], V[π], mask[:, π]) = attention(Q, K, V, mask) for any permutation π of the m keys."""
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    perm = _permutation(data, call.K.shape[-2], "π seed").to(device)
    mask = None if call.mask is None else call.mask[..., perm]
    assert_law(
        call(sdpa, K=call.K[..., perm, :], V=call.V[..., perm, :], mask=mask),
        call(sdpa),
        f"attention(Q, K[π], V[π], mask[:, π]) == attention(Q, K, V, mask), π = {perm.tolist()}",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_permuting_queries_permutes_the_output(implementation, device, dtype, data):
    """attention(Q[π], K, V, mask[π]) = attention(Q, K, V, mask)[π] for any permutation π of the n queries."""
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    perm = _permutation(data, call.Q.shape[-2], "π seed").to(device)
    mask = None if call.mask is None else call.mask[..., perm, :]
    out = call(sdpa)
    assert_tensor(out, "attention(Q, K, V) is (..., n, d_v)", shape=call.output_shape(), inputs=call.inputs())
    assert_law(
        call(sdpa, Q=call.Q[..., perm, :], mask=mask),
        out[..., perm, :],
        f"attention(Q[π], K, V, mask[π]) == attention(Q, K, V, mask)[π], π = {perm.tolist()}",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_zero_queries_average_the_values(implementation, device, dtype, data):
    """attention(0, K, V, mask) = the mean of the V rows each query may attend (all of them without a mask)."""
    call = data.draw(attention_calls(dtype, device), label="call")
    zeros = torch.zeros_like(call.Q)
    allowed = _allowed(call).to(F64)
    mean = allowed @ _f64(call.V) / allowed.sum(-1, keepdim=True)
    zero_call = call._replace(Q=zeros)
    assert_law(
        zero_call(implementation("run_scaled_dot_product_attention")),
        mean,
        "attention(Q = 0, K, V, mask) == mean of the attended V rows",
        tol=_tolerance(dtype, zero_call),
        inputs=zero_call.inputs(),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_log_odds_of_two_keys_are_their_score_difference_over_sqrt_d_k(implementation, device, dtype, data):
    """log(w_ij / w_il) = (q_i·k_j − q_i·k_l)/√d_k for attended keys j, l: scaling Q by c is temperature 1/c.

    Read against each query's most attended key, with the weights w from V = I.
    """
    call = data.draw(attention_calls(dtype, device), label="call")
    eye = _identity_values(call)
    weights = call(implementation("run_scaled_dot_product_attention"), V=eye)
    assert_tensor(weights, "attention(Q, K, I) is (..., n, m)", shape=call.output_shape(V=eye), inputs=call.inputs())
    allowed, weights, scores = _allowed(call), _f64(weights), _scores64(call)
    top = torch.where(allowed, scores, -math.inf).argmax(-1, keepdim=True)
    log_odds = torch.where(allowed, weights.log() - weights.gather(-1, top).log(), 0.0)
    expected = torch.where(allowed, scores - scores.gather(-1, top), 0.0)
    # Each weight carries the relative error of the first-order budget; a log turns it into an absolute one.
    eps, size = torch.finfo(dtype).eps, _score_size(call.Q, call.K)
    tol = Tolerance(0.0, 4 * eps * (2 + size), f"{dtype} attention: 4ε(2 + S) for a difference of two log-weights")
    assert_law(
        log_odds,
        expected,
        "log(w_ij / w_i,top) == (q_i·k_j − q_i·k_top)/√d_k",
        tol=tol,
        inputs=call.inputs(V=eye),
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_scale_is_one_over_sqrt_d_k(implementation, device, dtype, data):
    """attention([2Q, 0], [K, 0], V) = attention(Q, K, V) with zeros padding d_k to 4·d_k.

    The padding leaves QKᵀ as it is, doubling Q doubles it, and 1/√(4·d_k) halves it back; exact in any dtype.
    """
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    d_k = call.Q.shape[-1]
    padded_Q = torch.cat((2 * call.Q, call.Q.new_zeros((*call.Q.shape[:-1], 3 * d_k))), dim=-1)
    padded_K = torch.cat((call.K, call.K.new_zeros((*call.K.shape[:-1], 3 * d_k))), dim=-1)
    assert_law(
        call(sdpa, Q=padded_Q, K=padded_K),
        call(sdpa),
        f"attention([2Q, 0], [K, 0], V) with d_k {d_k} → {4 * d_k} == attention(Q, K, V)",
        tol=_tolerance(dtype, call, times=2),
        inputs=call.inputs(Q=padded_Q, K=padded_K),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), shift=st.sampled_from([1e3, -1e3]))
def test_translating_all_keys_changes_nothing_even_for_huge_scores(implementation, device, dtype, data, shift):
    """attention(Q, K + u, V) = attention(Q, K, V) for one vector u added to every key, even when q·u is ±1000s.

    q·u is the same for every key of a query and softmax ignores a constant; a softmax that skips
    subtracting the max overflows. Built by appending one feature: Q's is ±shift·√(d_k+1), K's 0 or 1.
    """
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    d_k = call.Q.shape[-1]
    signs = torch.randint(0, 2, (*call.Q.shape[:-1], 1), generator=torch.Generator().manual_seed(data.draw(_SEEDS)))
    extra = ((2 * signs - 1) * shift * math.sqrt(d_k + 1)).to(dtype=dtype, device=device)
    Q = torch.cat((call.Q, extra), dim=-1)
    K = torch.cat((call.K, torch.zeros_like(call.K[..., :1])), dim=-1)
    translated = torch.cat((call.K, torch.ones_like(call.K[..., :1])), dim=-1)
    assert_law(
        call(sdpa, Q=Q, K=translated),
        call(sdpa, Q=Q, K=K),
        f"attention(Q, K + u, V) == attention(Q, K, V), q·u = ±{shift:g}",
        tol=_tolerance(dtype, call._replace(Q=Q, K=translated), times=2),
        inputs=call.inputs(Q=Q, K=translated),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_batch_elements_are_attended_independently(implementation, device, dtype, data):
    """attention(Q, K, V, mask)[b] = attention(Q[b], K[b], V[b], mask[b]) for every index b of the leading dims.

    Leading dims are any number (2-D to 5-D inputs), batch-like and head-like alike.
    """
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")
    out = call(sdpa)
    assert_tensor(out, "attention(Q, K, V) is (..., n, d_v)", shape=call.output_shape(), inputs=call.inputs())
    for index in itertools.product(*map(range, call.Q.shape[:-2])):
        alone = AttentionCall(*(None if t is None else t[index] for t in call))
        assert_law(
            out[index],
            alone(sdpa),
            f"attention(Q, K, V, mask)[{index}] == attention of that batch element alone",
            tol=_tolerance(dtype, call, times=2),
            inputs=call.inputs(),
        )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), layout=st.sampled_from(["strided", "transposed"]))
def test_non_contiguous_inputs_give_the_same_result(implementation, device, dtype, data, layout):
    """attention of non-contiguous Q, K, V and mask (strided, or stored transposed) = attention of contiguous ones."""
    sdpa = implementation("run_scaled_dot_product_attention")
    call = data.draw(attention_calls(dtype, device), label="call")

    strided = AttentionCall(*(None if t is None else with_layout(t, layout) for t in call))
    assert_law(
        strided(sdpa),
        call(sdpa),
        f"attention of {layout} (non-contiguous) inputs == attention of contiguous ones",
        tol=_tolerance(dtype, call, times=2),
        inputs=strided.inputs(),
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of the attention adapter, drawn (shared by the differential, gradient and side-effect checks)."""
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    n, m = data.draw(st.integers(1, 6), label="queries"), data.draw(st.integers(1, 6), label="keys")
    d_k, d_v = data.draw(st.integers(1, 8), label="d_k"), data.draw(st.integers(1, 8), label="d_v")
    scale = data.draw(st.sampled_from([1.0, 3.0]), label="Q, K scale")
    arguments = {
        "Q": floats(data, (*lead, n, d_k), dtype, device, "Q", scale=scale),
        "K": floats(data, (*lead, m, d_k), dtype, device, "K", scale=scale),
        "V": floats(data, (*lead, m, d_v), dtype, device, "V"),
    }
    if data.draw(st.booleans(), label="masked"):
        arguments["mask"] = laid_out(
            data, data.draw(attention_masks((*lead, n, m), device=device), label="mask"), "mask"
        )
    elif data.draw(st.booleans(), label="mask=None passed explicitly"):
        arguments["mask"] = None
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_scaled_dot_product_attention = softmax(QKᵀ/√d_k + M) V; mask None means no mask at all."""
    agrees(
        implementation, "run_scaled_dot_product_attention", _arguments(data, dtype, device), dtype=dtype, device=device
    )


@pytest.mark.aspect("gradients")
@DTYPES
@secondary_settings()
@given(data=st.data(), seed=seeds())
def test_gradient_agrees_with_reference(implementation, device, dtype, data, seed):
    """The autograd gradient with respect to Q, K and V, for a drawn cotangent, is the reference's (SPEC §5)."""
    arguments = _arguments(data, dtype, device)
    gradient_agrees(
        implementation, "run_scaled_dot_product_attention", arguments, seed=seed, dtype=dtype, device=device
    )


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_scaled_dot_product_attention", _arguments(data, dtype, device))
