"""``harness/budget.py`` and ``reference/precision.py``: SPEC §5's budgets come from the naive computation's error.

The budget must accept what the contract allows (native low precision, float32 internals on float64 input) and
reject an error no rounding explains; the naive computation must be the least precise one the contract allows.
"""

from __future__ import annotations

import pytest
import torch

import reference.adapters as reference
from harness import budget
from harness.assertions import Tolerance, mismatch
from harness.differential import agrees, reference_adapter
from harness.inputs import make_tensor
from reference.precision import angle_dtype, required_upcast, widened, working_precision

CPU = torch.device("cpu")


def _textbook_softmax(in_features: torch.Tensor, dim: int) -> torch.Tensor:
    """softmax in the input's own dtype, the way most students write it."""
    shifted = in_features - in_features.amax(dim, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim, keepdim=True)


def test_working_precision_drops_optional_widening_only_inside_and_restores_after_an_error() -> None:
    assert widened(torch.bfloat16) == torch.float32 and angle_dtype() == torch.float64
    with pytest.raises(RuntimeError), working_precision():
        assert widened(torch.bfloat16) == torch.bfloat16 and angle_dtype() == torch.float32
        assert required_upcast(torch.bfloat16) == torch.float32  # RMSNorm's mean of squares: always
        raise RuntimeError
    assert widened(torch.bfloat16) == torch.float32 and angle_dtype() == torch.float64


def test_the_naive_computation_is_native_low_precision_and_float32_for_float64() -> None:
    x = make_tensor(1, (3, 7), scale=4.0)
    softmax = reference_adapter("run_softmax")
    native = budget.naive(softmax, {"in_features": x.bfloat16(), "dim": -1}, torch.bfloat16)
    assert torch.equal(native, _textbook_softmax(x.bfloat16(), -1))
    assert not torch.equal(native, reference.run_softmax(x.bfloat16(), -1)), "the reference itself widens"
    float32_inside = budget.naive(softmax, {"in_features": x.double(), "dim": -1}, torch.float64)
    assert float32_inside.dtype == torch.float64
    assert torch.equal(float32_inside, reference.run_softmax(x.double().float(), -1).double())


def test_the_budget_is_five_times_the_naive_error_or_the_default() -> None:
    x = make_tensor(2, (4, 64), scale=6.0)
    arguments = {"in_features": x.bfloat16(), "dim": -1}
    truth = budget.float64_truth(reference_adapter("run_softmax"), arguments)
    tol = budget.budget(reference_adapter("run_softmax"), arguments, torch.bfloat16, truth)
    naive_error = (_textbook_softmax(x.bfloat16(), -1).double() - truth).abs().max().item()
    assert tol.floor == pytest.approx(budget.FACTOR * naive_error) and "5× the naive computation" in tol.reason
    exact = {"vocab_size": 5, "d_model": 3, "weights": make_tensor(3, (5, 3)), "token_ids": torch.tensor([[4, 0]])}
    lookup = budget.budget(reference_adapter("run_embedding"), exact, torch.float32, exact["weights"][[4, 0]][None])
    assert lookup.floor <= budget.FACTOR * torch.finfo(torch.float32).eps, "a copy has no error but its rounding"


def test_a_scalar_output_measures_the_naive_error_on_neighbouring_inputs() -> None:
    logits, targets = make_tensor(4, (2, 5), torch.float16, scale=3.0), torch.tensor([1, 3])
    arguments = {"inputs": logits, "targets": targets}
    neighbour = budget._neighbour(arguments, torch.Generator().manual_seed(0))
    moved = (neighbour["inputs"].double() - logits.double()).abs()
    ulp = torch.finfo(torch.float16).eps * logits.double().abs()
    assert bool((moved <= ulp).all()) and bool((moved > 0).any()), "each element at most one ulp away"
    assert neighbour["targets"] is targets, "ids are not floating and stay"
    zero = budget._neighbour({"x": torch.zeros(8)}, torch.Generator().manual_seed(0))["x"]
    assert torch.equal(zero, torch.zeros(8)), "a zero never becomes a NaN bit pattern"


def test_agrees_accepts_what_the_contract_allows_and_rejects_a_real_error() -> None:
    x = make_tensor(5, (3, 33), scale=5.0)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        agrees(lambda name: _textbook_softmax, "run_softmax", {"in_features": x.to(dtype), "dim": -1},
               dtype=dtype, device=CPU)  # fmt: skip
    almost = lambda in_features, dim: _textbook_softmax(in_features * 1.001, dim)  # noqa: E731
    with pytest.raises(AssertionError, match=r"5× the naive computation's error"):
        agrees(lambda name: almost, "run_softmax", {"in_features": x, "dim": -1}, dtype=torch.float32, device=CPU)


def test_a_float64_fidelity_failure_names_float32_internals_or_says_it_is_beyond_them() -> None:
    x = make_tensor(6, (3, 33), torch.float64, scale=5.0)
    float32_inside = lambda in_features, dim: _textbook_softmax(in_features.float(), dim).double()  # noqa: E731
    with pytest.raises(AssertionError, match=r"likely cause: float32 internals on float64 input"):
        agrees(lambda name: float32_inside, "run_softmax", {"in_features": x, "dim": -1},
               dtype=torch.float64, device=CPU)  # fmt: skip
    hot = lambda in_features, dim: _textbook_softmax(in_features * 1.001, dim)  # noqa: E731
    with pytest.raises(AssertionError, match=r"beyond even float32 internals' budget"):
        agrees(lambda name: hot, "run_softmax", {"in_features": x, "dim": -1}, dtype=torch.float64, device=CPU)


def test_the_tolerance_floor_is_the_larger_of_the_two_terms() -> None:
    expected = torch.tensor([1000.0, 0.0])
    tol = Tolerance(1e-6, 1e-5, "test", floor=1e-4)
    assert mismatch(expected + torch.tensor([9e-4, 9e-5]), expected, tol) is None, "rtol·|x| or the floor, each"
    assert "worst element (1,)" in mismatch(expected + torch.tensor([0.0, 2e-4]), expected, tol)
