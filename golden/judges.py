"""How a received tensor is judged against a recorded one: bit for bit, or within SPEC §5's budget.

``Exact`` is the mode for regenerating and reviewing (the reference on the CPU that recorded the
snapshots). ``WithinTolerance`` and ``WithinBudget`` compare another device or another
implementation with the SPEC §5 rules of ``harness``, which give the failure message:
the law, the worst index with both values, and the max abs/rel errors, never a wall of numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from harness.assertions import Tolerance, assert_law, tolerance


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def layout_problem(received: Tensor, recorded: Tensor) -> str | None:
    """A dtype or shape that differs from the recording (SPEC §4: the output has the input's dtype)."""
    if received.dtype != recorded.dtype:
        return f"dtype {dtype_name(received.dtype)}, recorded {dtype_name(recorded.dtype)} (the input's dtype)"
    if received.shape != recorded.shape:
        return f"shape {tuple(received.shape)}, recorded {tuple(recorded.shape)}"
    return None


def _failure(check: Callable[[], None]) -> str | None:
    try:
        check()
    except AssertionError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class Exact:
    """Bit-identical to the recorded bytes: the snapshot file's text must not change at all."""

    description = "exact: bit-identical to the recorded bytes"

    def failure(self, received: Tensor, recorded: Tensor, law: str) -> str | None:
        if problem := layout_problem(received, recorded):
            return f"law broken: {law}\n  {problem}"
        zero = Tolerance(0.0, 0.0, self.description)
        return _failure(lambda: assert_law(received, recorded, law, tol=zero)) or (
            # Equal values in other bytes: signed zeros or NaN payloads.
            f"law broken: {law}\n  values compare equal but the bytes differ (signed zeros or NaN payloads)"
            if not torch.equal(received.view(torch.uint8), recorded.view(torch.uint8))
            else None
        )


@dataclass(frozen=True)
class WithinTolerance:
    """float64: within float64's own SPEC §5 tolerance of the recording (full fidelity)."""

    description = "tolerance: SPEC §5 default of the dtype"

    def failure(self, received: Tensor, recorded: Tensor, law: str) -> str | None:
        if problem := layout_problem(received, recorded):
            return f"law broken: {law}\n  {problem}"
        return _failure(lambda: assert_law(received, recorded, law, tol=tolerance(recorded.dtype)))


@dataclass(frozen=True)
class WithinBudget:
    """float32/float16/bfloat16: within SPEC §5's budget (``harness/budget.py``) of the recorded float64 truth.

    ``truth`` loads the float64 snapshot of the same case (the inputs are exact in every dtype, see
    ``golden.inputs``), or returns a message when that snapshot cannot be read; ``budget`` measures
    the naive computation's error on the case's inputs against that truth.
    """

    truth: Callable[[], Tensor | str]
    budget: Callable[[Tensor], Tolerance]

    description = "tolerance: SPEC §5 budget against the recorded float64 truth"

    def failure(self, received: Tensor, recorded: Tensor, law: str) -> str | None:
        if problem := layout_problem(received, recorded):
            return f"law broken: {law}\n  {problem}"
        truth = self.truth()
        if isinstance(truth, str):
            return f"cannot judge {law}: {truth}"
        tol = self.budget(truth)
        return _failure(lambda: assert_law(received, truth, law + " (against the float64 truth)", tol=tol))
