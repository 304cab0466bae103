"""The budget of every scored value comparison, derived as SPEC §5 says: from measured error.

An output is judged against the float64 *truth* (the reference on the exactly widened inputs) within
the larger of the dtype's ``torch.testing.assert_close`` default and ``FACTOR`` times the worst error
of the *naive computation*: the reference evaluated with the least precision the contract allows
(``reference.precision.working_precision``; float64 inputs computed in float32). Anything a correct
implementation may do rounds no worse than a small multiple of that, whatever its order of
operations, and the bug catalog proves no known bug fits inside it. Properties, golden cases and the
grader's diagnosis all take their budgets from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from harness.assertions import Tolerance, tolerance
from reference.precision import working_precision

# PyTorch's SDPA tests allow a fused kernel 5× the error of the naive math in the same dtype.
FACTOR = 5.0
# The naive error is measured over at least this many output elements (see ``budget``), on at most
# this many neighbouring inputs besides the case itself: a scalar output (cross-entropy) takes 31.
SAMPLES = 32
MAX_NEIGHBOURS = 31


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The least precision SPEC §5 allows for inputs of ``dtype``: float64 may be computed in float32."""
    return torch.float32 if dtype == torch.float64 else dtype


def cast_floats(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors (also inside a weights mapping) cast to ``dtype``; ids, masks and numbers unchanged."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return {key: cast_floats(item, dtype) for key, item in value.items()}
    return value


def float64_truth(function: Callable[..., torch.Tensor], arguments: Mapping[str, Any]) -> torch.Tensor:
    """``function`` on the arguments widened to float64 (exact), in float64."""
    return function(**{name: cast_floats(value, torch.float64) for name, value in arguments.items()})


def naive(function: Callable[..., torch.Tensor], arguments: Mapping[str, Any], dtype: torch.dtype) -> torch.Tensor:
    """``function`` of the reference at the working precision for inputs of ``dtype``, cast back to ``dtype``."""
    working = working_dtype(dtype)
    with working_precision():
        output = function(**{name: cast_floats(value, working) for name, value in arguments.items()})
    return output.to(dtype) if output.is_floating_point() else output


def _neighbour(value: Any, generator: torch.Generator) -> Any:
    """Nonzero floating elements moved by at most one ulp, at random (their bits ±1); everything else unchanged."""
    if isinstance(value, Mapping):
        return {key: _neighbour(item, generator) for key, item in value.items()}
    if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
        return value
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[value.element_size()]
    steps = torch.randint(-1, 2, value.shape, generator=generator).to(value.device, bits)
    moved = (value.contiguous().view(bits) + steps * (value != 0)).view(value.dtype)
    return torch.where(moved.isfinite(), moved, value)


def _worst_error(naive: torch.Tensor, truth: torch.Tensor, dtype: torch.dtype) -> tuple[float, int]:
    """Worst ``|naive - truth|`` over finite elements, at least the output's own rounding; and how many were seen."""
    t, n = truth.detach().to("cpu", torch.float64), naive.detach().to("cpu", torch.float64)
    both = t.isfinite() & n.isfinite()
    if not bool(both.any()):
        return 0.0, 0
    output_rounding = torch.finfo(dtype).eps / 2 * t[both].abs().max().item()
    return max((n - t)[both].abs().max().item(), output_rounding), int(both.sum())


def budget(
    function: Callable[..., torch.Tensor], arguments: Mapping[str, Any], dtype: torch.dtype, truth: torch.Tensor
) -> Tolerance:
    """The dtype's default, or ``FACTOR`` × the naive computation's worst error if that is larger.

    ``function`` is the reference, ``truth`` its float64 output on ``arguments``. The naive error is
    a sample of a distribution, and the worst of a handful of output elements can be far luckier than
    an independent implementation that rounds at other points: so the measurement also takes
    neighbouring inputs (each element at most one ulp away) until ``SAMPLES`` output elements are
    seen. Each element's error counts as at least the rounding of its output (half an ulp of the
    largest truth). Elements where the naive computation overflows (float16 exponentials) or the
    truth is not finite say nothing about rounding and are left out.
    """
    error, seen = _worst_error(naive(function, arguments, dtype), truth, dtype)
    generator = torch.Generator().manual_seed(0)
    for _ in range(MAX_NEIGHBOURS):
        if seen >= SAMPLES:
            break
        nearby = _neighbour(arguments, generator)
        more, count = _worst_error(naive(function, nearby, dtype), float64_truth(function, nearby), dtype)
        error, seen = max(error, more), seen + count
    default = tolerance(dtype)
    naive_name = "float32 internals" if working_dtype(dtype) != dtype else f"native {str(dtype).removeprefix('torch.')}"
    reason = (
        f"SPEC §5: the {str(dtype).removeprefix('torch.')} default, or {FACTOR:g}× the naive computation's "
        f"error {error:.3g} ({naive_name}) against float64 truth"
    )
    return Tolerance(default.rtol, default.atol, reason, floor=FACTOR * error)


def judging_tolerance(
    function: Callable[..., torch.Tensor], arguments: Mapping[str, Any], dtype: torch.dtype, truth: torch.Tensor
) -> Tolerance:
    """What a comparison with the truth demands: float64 at its own default (full fidelity, which SPEC §5 reports
    as a finding), every other dtype within ``budget``."""
    return tolerance(dtype) if dtype == torch.float64 else budget(function, arguments, dtype, truth)
