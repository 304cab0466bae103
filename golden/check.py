"""One golden comparison: run a function on a case's inputs in a dtype on the device, judge the output.

The mode decides the judge: ``exact`` (the reference on the CPU that recorded the snapshots: the text
must not change by a byte) or ``tolerance`` (another implementation or device: float64 at its own
tolerance, every other dtype within SPEC §5's budget of the recorded float64 truth of the same case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import torch
from syrupy.assertion import SnapshotAssertion
from torch import Tensor

from golden.inputs import as_case, floating
from golden.judges import Exact, WithinBudget, WithinTolerance, dtype_name
from golden.tensor_snapshot import Received, SnapshotFormatError, deserialize_tensor
from harness import budget
from harness.differential import reference_adapter

Mode = Literal["exact", "tolerance"]
STORABLE = (torch.float64, torch.float32, torch.float16, torch.bfloat16)

# Ids are the dtype names: a float16/bfloat16 case finds its float64 truth by swapping its own id.
ALL_DTYPES = pytest.mark.parametrize("dtype", STORABLE, ids=dtype_name)


@dataclass(repr=False)
class GoldenCheck:
    snapshot: SnapshotAssertion
    mode: Mode
    device: torch.device
    implementation: Callable[[str], Callable]

    def __repr__(self) -> str:
        return f"GoldenCheck({self.mode} mode on {self.device})"

    def adapter(self, name: str, dtype: torch.dtype, **arguments: object) -> None:
        """``name`` of the implementation under test on ``arguments``, against the reference's recording."""
        self.function(
            self.implementation(name),
            dtype,
            law=f"{name} matches the recorded reference",
            oracle=reference_adapter(name),
            **arguments,
        )

    def function(
        self,
        function: Callable[..., Tensor],
        dtype: torch.dtype,
        *,
        law: str,
        oracle: Callable[..., Tensor] | None = None,
        **arguments: object,
    ) -> None:
        """``function(**arguments)`` with floating tensors cast to ``dtype`` on the device, against the snapshot.

        ``oracle`` is the reference function whose naive computation sets the budget (default:
        ``function`` itself, when the reference is what runs).
        """
        law = f"{law} ({dtype_name(dtype)} on {self.device.type}, {self.mode} mode)"
        if dtype != torch.float64:
            _require_exact_in(dtype, arguments)
        case = {name: as_case(value, dtype, self.device) for name, value in arguments.items()}
        judge = self._judge(dtype, oracle or function, case)
        try:
            output = function(**case)
        except Exception as error:
            if not self.snapshot.update_snapshots:
                # Count the snapshot as failed rather than unused, then show the error with its traceback.
                self.snapshot == Received(None, judge, law, f"raised {type(error).__name__}")  # noqa: B015
            raise
        problem = _not_storable(output, self.device)
        if problem is not None and self.snapshot.update_snapshots:
            pytest.fail(f"not recorded: {law}: {problem}", pytrace=False)
        received = Received(output if problem is None else None, judge, law, problem)
        matched = self.snapshot == received  # syrupy records the comparison: passed, failed or (updating) written
        if not matched:
            pytest.fail("\n".join(self.snapshot.get_assert_diff()), pytrace=False)

    def _judge(self, dtype: torch.dtype, oracle: Callable[..., Tensor], case: Mapping[str, object]) -> object:
        if self.mode == "exact":
            return Exact()
        if dtype == torch.float64:
            return WithinTolerance()
        return WithinBudget(
            lambda: self._recorded_truth(dtype), lambda truth: budget.budget(oracle, case, dtype, truth)
        )

    def _recorded_truth(self, dtype: torch.dtype) -> Tensor | str:
        """The float64 snapshot of this same case: its file name with the dtype id swapped."""
        own = Path(self.snapshot.extension.get_location(test_location=self.snapshot.test_location, index=0))
        pattern = rf"(?<=[\[-]){dtype_name(dtype)}(?=[\]-])"
        path = own.with_name(re.sub(pattern, "float64", own.name))
        if path == own:
            return f"no dtype id {dtype_name(dtype)!r} in {own.name} to find the float64 truth by"
        try:
            return deserialize_tensor(path.read_text())
        except FileNotFoundError:
            return f"the float64 truth {path} is missing; record it with `python -m pytest golden --snapshot-update`"
        except SnapshotFormatError as error:
            return f"the float64 truth {path} is damaged: {error}"


def _require_exact_in(dtype: torch.dtype, arguments: Mapping[str, object]) -> None:
    """The float64 snapshot is this case's truth only if every input is exact in ``dtype`` (see golden.inputs)."""
    for name, tensor in floating(arguments).items():
        if not torch.equal(tensor.to(dtype).to(tensor.dtype), tensor):
            raise ValueError(f"golden input {name} is not exact in {dtype}: draw it with golden.inputs")


def _not_storable(output: object, device: torch.device) -> str | None:
    if type(output) is not torch.Tensor:
        return f"returned a {type(output).__module__}.{type(output).__qualname__}, not a torch.Tensor"
    if output.dtype not in STORABLE:
        return f"returned a {output.dtype} tensor, not a floating-point one"
    if output.device.type != device.type:
        return f"returned a tensor on {output.device}, inputs were on {device}"
    return None
