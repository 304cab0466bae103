"""Differential judging: an adapter under test agrees with the reference adapter on the same arguments.

float64/float32 are judged with the SPEC §5 tolerance of the dtype.
float16/bfloat16 are judged against a float64 truth computed by the reference
on the same (exactly widened) inputs: within twice the reference's own error
in that dtype, or the dtype's tolerance at the output's scale, and for
composite adapters within three times how far the truth moves when the inputs
are rounded once more (``judge_low_precision``). Every adapter must also leave
its inputs unchanged. The reference is the oracle here, so this module imports
``reference.adapters``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

import reference.adapters as oracle
from harness.assertions import Tolerance, assert_law, assert_tensor, tolerance
from harness.strategies import ALL_FLOATS, WIDE_FLOATS
from reference import checks

DTYPES = pytest.mark.parametrize("dtype", ALL_FLOATS)  # ids name the dtype: harness/pytest_plugin.py


def _widened(value: Any) -> Any:
    """Low-precision floats widened to float64 (exact); ids, masks and numbers unchanged."""
    if isinstance(value, torch.Tensor):
        return value.to(torch.float64) if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return {key: _widened(item) for key, item in value.items()}
    return value


def _tensors(arguments: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    found = {}
    for name, value in arguments.items():
        if isinstance(value, torch.Tensor):
            found[name] = value
        elif isinstance(value, Mapping):
            found.update({f"{name}[{key!r}]": item for key, item in value.items() if isinstance(item, torch.Tensor)})
    return found


def _described(arguments: Mapping[str, Any]) -> dict[str, object]:
    """Arguments for a failure message: tensors as shape/dtype/device, a weights dict by its size only."""
    return {
        name: f"<{len(value)} tensors>" if isinstance(value, Mapping) else value for name, value in arguments.items()
    }


# PyTorch's factor on the reference's own low-precision error (its SDPA tests).
SLACK = 2.0
# Composite adapters (attention, SwiGLU, the block, the LM) chain many roundings, and an independent
# implementation rounds at other points (scaling Q before QKᵀ, upcasting RoPE or softmax, another
# contraction order), which the reference's single error sample does not bound: a correct
# implementation was up to 13× the reference's error. What bounds any backward-stable order is the
# exact result's change when the inputs are rounded once more (``rounding_sensitivity``). Over 3
# correct catalog implementations × 150 examples per low-precision dtype, the worst error not
# already within the other terms was 1.4× that change (the block in float16): 3× is the budget.
SENSITIVITY_FACTOR = 3.0


def _oracle(adapter: str, arguments: Mapping[str, Any]) -> torch.Tensor:
    """The reference adapter's output, without its run-time shape checks.

    Those checks guard a caller's inputs; here the caller is this module's strategies, whose inputs
    the checks see whenever the suite runs against the reference itself (then the adapter under
    test is the reference, checks on). Skipping them halves the oracle's cost in graded runs.
    """
    with checks(False):
        return getattr(oracle, adapter)(**arguments)


def agrees(
    implementation: Callable[[str], Callable],
    adapter: str,
    arguments: dict[str, Any],
    *,
    dtype: torch.dtype,
    device: torch.device,
    composite: bool = False,
) -> None:
    """``implementation(adapter)(**arguments)`` agrees with the reference's, in the dtype's own way.

    float64/float32: within the dtype's SPEC §5 tolerance of the reference.
    float16/bfloat16: as close to the reference's float64 truth as ``judge_low_precision`` demands,
    ``composite`` adapters with room for their sensitivity to rounding.
    """
    function = implementation(adapter)
    law = f"{adapter} agrees with the reference adapter in {str(dtype).removeprefix('torch.')}"
    inputs = _described(arguments)
    expected = _oracle(adapter, arguments)
    before = {name: tensor.clone() for name, tensor in _tensors(arguments).items()}
    actual = function(**arguments)
    for name, tensor in _tensors(arguments).items():
        if not torch.equal(tensor, before[name]):
            raise AssertionError(f"law broken: {adapter} leaves its inputs unchanged\n  it modified {name} in place")
    assert_tensor(actual, law, shape=expected.shape, dtype=expected.dtype, device=device, inputs=inputs)
    if dtype in WIDE_FLOATS:
        assert_law(actual, expected, law, inputs=inputs)
        return
    truth = _oracle(adapter, _widened(arguments))
    sensitivity = rounding_sensitivity(adapter, arguments, dtype, truth) if composite else None
    judge_low_precision(actual, truth, expected, law + " (against float64 truth)", sensitivity, inputs=inputs)


def _perturbed(value: Any, unit: float, generator: torch.Generator) -> Any:
    """Floating tensors in float64, each element moved by one rounding ``x·(1 ± unit)``; ids, masks unchanged."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        signs = torch.randint(0, 2, value.shape, generator=generator, dtype=torch.float64) * 2 - 1
        return value.to(torch.float64) * (1 + unit * signs.to(value.device))
    if isinstance(value, Mapping):
        return {key: _perturbed(item, unit, generator) for key, item in value.items()}
    return value


def rounding_sensitivity(adapter: str, arguments: Mapping[str, Any], dtype: torch.dtype, truth: torch.Tensor):
    """How far the exact result moves when every input is rounded once more in ``dtype`` (worst of two tries).

    A backward-stable computation in ``dtype`` returns the exact result of inputs perturbed by about
    one rounding (unit roundoff ``eps/2``), so this is the forward error any such implementation may
    show, whatever the order of its operations.
    """
    unit = torch.finfo(dtype).eps / 2
    generator = torch.Generator().manual_seed(0)
    moved = [_oracle(adapter, _perturbed(arguments, unit, generator)) for _ in range(2)]
    return torch.stack([(m.to(torch.float64) - truth.to(torch.float64)).abs() for m in moved]).amax(dim=0)


def judge_low_precision(
    actual: torch.Tensor,
    truth: torch.Tensor,
    reference: torch.Tensor,
    law: str,
    sensitivity: torch.Tensor | None = None,
    *,
    inputs: Mapping[str, object],
) -> None:
    """``|actual - truth| ≤ atol + max(rtol·max|truth|, SLACK·max|reference - truth|, SENSITIVITY_FACTOR·max Δ)``.

    ``rtol``/``atol`` are the dtype's SPEC §5 tolerance. The reference-relative term is the rule of
    PyTorch's SDPA tests; the first is their ``get_tolerances`` floor, taken at the output's scale
    (with a handful of output elements the reference's worst error can be a lucky fraction of an ulp);
    the last, with ``Δ`` the ``sensitivity``, applies to composite adapters only.
    """
    t = truth.detach().to("cpu", torch.float64)
    default = tolerance(actual.dtype)

    def worst(tensor: torch.Tensor | None) -> float:
        finite = tensor[tensor.isfinite()] if tensor is not None else t.new_zeros(0)
        return finite.abs().max().item() if finite.numel() else 0.0

    terms = {
        "rtol·max|truth|": default.rtol * worst(t),
        f"{SLACK:g}× the reference's own error": SLACK * worst(reference.detach().to("cpu", torch.float64) - t),
    }
    if sensitivity is not None:
        terms[f"{SENSITIVITY_FACTOR:g}× the rounding sensitivity"] = SENSITIVITY_FACTOR * worst(sensitivity.cpu())
    reason = "atol + max(" + ", ".join(f"{name} {value:.3g}" for name, value in terms.items()) + ")"
    assert_law(actual, t, law, tol=Tolerance(0.0, default.atol + max(terms.values()), reason), inputs=inputs)


# ---------------------------------------------------------------- one property per adapter
