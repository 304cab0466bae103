"""Differential judging: an adapter under test agrees with the reference's float64 truth on the same arguments.

float32, float16 and bfloat16 outputs are judged against the float64 truth within SPEC §5's budget
(``harness/budget.py``: the dtype's default, or a multiple of the naive computation's measured error).
float64 outputs are judged at float64's own tolerance (full fidelity, a finding under the course
rubric); when that breaks, the message says whether the error is what float32 internals give, which
SPEC §5 allows. Every adapter must also leave its inputs unchanged. The reference is the oracle here,
so this module imports ``reference.adapters``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

import reference.adapters as oracle
from harness import budget
from harness.assertions import assert_law, assert_tensor, mismatch
from harness.strategies import ALL_FLOATS
from reference import checks

DTYPES = pytest.mark.parametrize("dtype", ALL_FLOATS)  # ids name the dtype: harness/pytest_plugin.py


def tensors_of(arguments: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Every tensor argument by name, a weights mapping's entries as ``name[key]``."""
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


def reference_adapter(adapter: str) -> Callable[..., torch.Tensor]:
    """The reference adapter without its run-time shape checks.

    Those checks guard a caller's inputs; here the caller is the suite's strategies, whose inputs the
    checks see whenever the suite runs against the reference itself (then the adapter under test is
    the reference, checks on). Skipping them halves the oracle's cost in graded runs.
    """

    def call(**arguments: Any) -> torch.Tensor:
        with checks(False):
            return getattr(oracle, adapter)(**arguments)

    return call


def agrees(
    implementation: Callable[[str], Callable],
    adapter: str,
    arguments: dict[str, Any],
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> None:
    """``implementation(adapter)(**arguments)`` has the input's dtype and is as close to the truth as SPEC §5 asks."""
    function = implementation(adapter)
    law = f"{adapter} agrees with the reference adapter in {str(dtype).removeprefix('torch.')}"
    inputs = _described(arguments)
    before = {name: tensor.clone() for name, tensor in tensors_of(arguments).items()}
    actual = function(**arguments)
    for name, tensor in tensors_of(arguments).items():
        if not torch.equal(tensor, before[name]):
            raise AssertionError(f"law broken: {adapter} leaves its inputs unchanged\n  it modified {name} in place")
    oracle_function = reference_adapter(adapter)
    truth = budget.float64_truth(oracle_function, arguments)
    assert_tensor(actual, law, shape=truth.shape, dtype=dtype, device=device, inputs=inputs)
    tol = budget.judging_tolerance(oracle_function, arguments, dtype, truth)
    if dtype != torch.float64:
        assert_law(actual, truth, law + " (against float64 truth)", tol=tol, inputs=inputs)
        return
    try:
        assert_law(actual, truth, law, tol=tol, inputs=inputs)
    except AssertionError as error:
        allowed = budget.budget(oracle_function, arguments, dtype, truth)
        cause = (
            "likely cause: float32 internals on float64 input, within SPEC §5's budget for them "
            "(allowed by the course; full float64 fidelity is for library code)"
            if mismatch(actual, truth, allowed) is None
            else f"beyond even float32 internals' budget ({allowed.reason})"
        )
        raise AssertionError(f"{error}\n  {cause}") from None
