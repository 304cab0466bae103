"""Assertions that explain a broken law: what should hold, the inputs, and the worst element.

Tolerances start from ``torch.testing.assert_close``'s defaults per dtype
(SPEC §5); a property that needs more names the dtype, the operation and the
reason with ``Tolerance(..., reason=...)``, as PyTorch OpInfo's
``toleranceOverride`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from harness.reproduction import attach


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| ≤ max(atol + rtol·|expected|, floor)`` elementwise.

    ``floor`` is SPEC §5's measured term (``harness/budget.py``): a multiple of the naive
    computation's worst error, which the dtype's default may not cover.
    """

    rtol: float
    atol: float
    reason: str = "torch.testing.assert_close default"
    floor: float = 0.0

    def scaled(self, factor: float, reason: str) -> Tolerance:
        return Tolerance(self.rtol * factor, self.atol * factor, reason, self.floor * factor)


DEFAULT_TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(1e-7, 1e-7),
    torch.float32: Tolerance(1.3e-6, 1e-5),
    torch.float16: Tolerance(1e-3, 1e-5),
    torch.bfloat16: Tolerance(1.6e-2, 1e-5),
}


def tolerance(dtype: torch.dtype) -> Tolerance:
    return DEFAULT_TOLERANCES[dtype]


def describe(tensor: object) -> str:
    if not isinstance(tensor, torch.Tensor):
        return repr(tensor)
    return f"{tuple(tensor.shape)} {str(tensor.dtype).removeprefix('torch.')} on {tensor.device}"


def _inputs_text(inputs: Mapping[str, object] | None) -> str:
    if not inputs:
        return ""
    return "  inputs: " + ", ".join(f"{name} {describe(value)}" for name, value in inputs.items()) + "\n"


def assert_tensor(actual: object, law: str, *, shape=None, dtype=None, device=None, inputs=None) -> torch.Tensor:
    """``actual`` is a real ``torch.Tensor`` (not a subclass that could lie) of the given shape/dtype/device."""
    problems = []
    if type(actual) is not torch.Tensor:
        problems.append(f"returned a {type(actual).__module__}.{type(actual).__qualname__}, not a torch.Tensor")
    else:
        if shape is not None and tuple(actual.shape) != tuple(shape):
            problems.append(f"shape {tuple(actual.shape)}, expected {tuple(shape)}")
        if dtype is not None and actual.dtype != dtype:
            problems.append(f"dtype {actual.dtype}, expected {dtype}")
        if device is not None and actual.device.type != torch.device(device).type:
            problems.append(f"device {actual.device}, expected {device}")
    if problems:
        raise attach(AssertionError(f"law broken: {law}\n{_inputs_text(inputs)}  " + "; ".join(problems)))
    return actual


def mismatch(actual: torch.Tensor, expected: torch.Tensor, tol: Tolerance) -> str | None:
    """``None`` when ``|actual - expected| ≤ atol + rtol·|expected|`` everywhere, else where and by how much.

    Both NaN, or equal infinities, count as agreement; a NaN on one side only is the worst mismatch.
    The one elementwise comparison of the project: laws, golden judges and the diagnosis all use it.
    """
    a, e = actual.detach().to("cpu", torch.float64), expected.detach().to("cpu", torch.float64)
    allowed = (tol.atol + tol.rtol * e.abs()).clamp_min(tol.floor)
    error = (a - e).abs()
    same = (a == e) | (a.isnan() & e.isnan())
    excess = torch.where(same, -torch.inf, (error - allowed).nan_to_num(nan=torch.inf))
    if a.numel() == 0 or bool((excess <= 0).all()):
        return None
    worst = tuple(int(i) for i in torch.unravel_index(excess.argmax(), excess.shape))
    finite = torch.where(same, 0.0, error.nan_to_num(nan=torch.inf))
    relative = finite / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    return (
        f"  worst element {worst}: got {a[worst].item():.9g}, expected {e[worst].item():.9g}\n"
        f"  max abs error {finite.max().item():.3g}, max rel error {relative.max().item():.3g}, "
        f"{int((excess > 0).sum())} of {a.numel()} elements outside tolerance"
    )


def assert_law(
    actual: torch.Tensor,
    expected: torch.Tensor,
    law: str,
    *,
    tol: Tolerance | None = None,
    inputs: Mapping[str, object] | None = None,
) -> None:
    """``actual ≈ expected`` elementwise within ``tol`` (the dtype's default), else fail naming the law.

    The message gives the inputs' shapes/dtype/device, the worst element with
    both values, and the max abs and rel errors; Hypothesis adds the shrunk
    example and a ``@reproduce_failure`` line.
    """
    assert_tensor(actual, law, shape=expected.shape, inputs=inputs)
    tol = tol or tolerance(actual.dtype)
    where = mismatch(actual, expected, tol)
    if where is not None:
        raise attach(
            AssertionError(
                f"law broken: {law}\n"
                f"{_inputs_text(inputs)}"
                f"  output {describe(actual)}; tolerance rtol={tol.rtol:g} atol={tol.atol:g}"
                + (f" floor={tol.floor:.3g}" if tol.floor else "")
                + f" ({tol.reason})\n"
                + where
            )
        )
