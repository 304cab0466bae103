"""Differential judging: an adapter under test agrees with the reference's float64 truth on the same arguments.

float32, float16 and bfloat16 outputs are judged against the float64 truth within SPEC §5's budget
(``harness/budget.py``: the dtype's default, or a multiple of the naive computation's measured error).
float64 outputs are judged at float64's own tolerance (full fidelity, a finding under the course
rubric); when that breaks, the message says whether the error is what float32 internals give, which
SPEC §5 allows. Gradients are judged the same way: the reference's vector-Jacobian product, as a
function of the arguments, is what the budget measures. Side effects are their own check
(``leaves_inputs_unchanged``), so that a rubric can weigh them apart from values. The reference is
the oracle here, so this module imports ``reference.adapters``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

import reference.adapters as oracle
from harness import backward, budget, reproduction
from harness.assertions import assert_law, assert_tensor, mismatch
from harness.inputs import make_tensor
from harness.protocol import ADAPTERS
from harness.strategies import ALL_FLOATS
from reference import checks

DTYPES = pytest.mark.parametrize("dtype", ALL_FLOATS)  # ids name the dtype: harness/pytest_plugin.py


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
    law = f"{adapter} agrees with the reference adapter in {str(dtype).removeprefix('torch.')}"
    inputs = _described(arguments)
    actual = implementation(adapter)(**arguments)
    oracle_function = reference_adapter(adapter)
    truth = budget.float64_truth(oracle_function, arguments)
    assert_tensor(actual, law, shape=truth.shape, dtype=dtype, device=device, inputs=inputs)
    _judge(actual, truth, oracle_function, arguments, dtype, law, inputs)


def reference_gradient(adapter: str, argument: str, cotangent: torch.Tensor) -> Callable[..., torch.Tensor]:
    """The reference's ``cotangent · ∂output/∂argument`` as a function of the arguments, so that SPEC §5's budget
    (float64 truth, the naive computation at working precision) applies to gradients unchanged."""
    oracle = reference_adapter(adapter)

    def gradient(**arguments: Any) -> torch.Tensor:
        leaf = arguments[argument].detach().requires_grad_()
        output = oracle(**(arguments | {argument: leaf}))
        (result,) = torch.autograd.grad(output, leaf, cotangent.to(output.device, output.dtype))
        return result

    return gradient


def gradients(
    implementation: Callable[[str], Callable],
    adapter: str,
    arguments: dict[str, Any],
    wrt: list[str],
    cotangent: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """``{name: cotangent · ∂output/∂arguments[name]}`` from the implementation's own autograd, wherever it runs;
    a missing gradient fails saying which of None, no grad_fn or an error at backward it was, and where to look."""
    try:
        return implementation(adapter).vjp(arguments, wrt, cotangent)[1]
    except backward.MissingGradient as missing:
        law = f"{adapter} has an autograd gradient with respect to {', '.join(wrt)}"
        raise reproduction.attach(AssertionError(f"law broken: {law}\n  {missing.explain(adapter)}")) from None


def gradient_agrees(
    implementation: Callable[[str], Callable],
    adapter: str,
    arguments: dict[str, Any],
    *,
    seed: int,
    dtype: torch.dtype,
    device: torch.device,
) -> None:
    """The submission's autograd gradient of every activation input (``Adapter.differentiable``), for a seeded
    cotangent, is the reference's within SPEC §5's budget; a missing one fails saying how it is missing."""
    wrt = [name for name in ADAPTERS[adapter].differentiable if arguments.get(name) is not None]
    inputs = _described(arguments)
    oracle = reference_adapter(adapter)
    with torch.no_grad():
        shape = tuple(oracle(**arguments).shape)
    cotangent = make_tensor(seed, shape, dtype, device)
    name_of_dtype = str(dtype).removeprefix("torch.")
    found = gradients(implementation, adapter, arguments, wrt, cotangent)
    for name in wrt:
        law = f"{adapter}'s gradient with respect to {name} agrees with the reference's in {name_of_dtype}"
        function = reference_gradient(adapter, name, cotangent)
        truth = budget.float64_truth(function, arguments)
        assert_tensor(found.get(name), law, shape=truth.shape, dtype=dtype, device=device, inputs=inputs)
        _judge(found[name], truth, function, arguments, dtype, law, inputs)


def _judge(
    actual: torch.Tensor,
    truth: torch.Tensor,
    function: Callable[..., torch.Tensor],
    arguments: dict[str, Any],
    dtype: torch.dtype,
    law: str,
    inputs: dict[str, object],
) -> None:
    """Within SPEC §5's budget; on float64, at float64's own tolerance, saying whether float32 internals explain it."""
    tol = budget.judging_tolerance(function, arguments, dtype, truth)
    if dtype != torch.float64:
        assert_law(actual, truth, law + " (against float64 truth)", tol=tol, inputs=inputs)
        return
    try:
        assert_law(actual, truth, law, tol=tol, inputs=inputs)
    except AssertionError as error:
        allowed = budget.budget(function, arguments, dtype, truth)
        cause = (
            "likely cause: float32 internals on float64 input, within SPEC §5's budget for them "
            "(allowed by the course; full float64 fidelity is for library code)"
            if mismatch(actual, truth, allowed) is None
            else f"beyond even float32 internals' budget ({allowed.reason})"
        )
        raise AssertionError(f"{error}\n  {cause}") from None


def argument_name(path: tuple) -> str:
    """``weights['ln1.weight']`` for the path ``("weights", "ln1.weight")`` of ``backward.tensor_leaves``."""
    return str(path[0]) + "".join(f"[{key!r}]" for key in path[1:])


def leaves_inputs_unchanged(implementation: Callable[[str], Callable], adapter: str, arguments: dict[str, Any]) -> None:
    """After ``implementation(adapter)(**arguments)`` every tensor passed in (activations, each tensor of a weights
    mapping, masks, positions) is bit-identical to before (SPEC §4: inputs unchanged), else fail naming it."""
    before = backward.snapshot(arguments)
    implementation(adapter)(**arguments)
    changed = [argument_name(path) for path, _ in backward.modified(before)]
    if changed:
        raise AssertionError(
            f"law broken: {adapter} leaves its inputs unchanged\n  it modified {', '.join(changed)} in place"
        )
