"""Which precision the reference computes in: wide by default, or SPEC §5's least allowed precision.

By default the reference widens where it can (softmax and cross-entropy in float32 or wider, RoPE
angles in float64), so it is as accurate as its output dtype allows. Inside ``working_precision()``
it computes with the least precision the contract allows an implementation: every operation in the
input's own dtype except the two required upcasts (RMSNorm's mean of squares and RoPE's angles, in
float32). The suite measures that *naive computation*'s error to derive every budget
(``harness/budget.py``), so one switch here, not a second copy of each formula, defines it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_working = False


@contextlib.contextmanager
def working_precision() -> Iterator[None]:
    """Compute like the least precise correct implementation SPEC §5 allows."""
    global _working
    previous, _working = _working, True
    try:
        yield
    finally:
        _working = previous


def widened(dtype: torch.dtype) -> torch.dtype:
    """An optional widening: float32 or wider, or ``dtype`` itself under ``working_precision()``."""
    return dtype if _working else torch.promote_types(dtype, torch.float32)


def required_upcast(dtype: torch.dtype) -> torch.dtype:
    """A widening the contract requires of every implementation: float32 or wider, always."""
    return torch.promote_types(dtype, torch.float32)


def angle_dtype() -> torch.dtype:
    """RoPE and sinusoid angles: float64, or float32 (the required minimum) under ``working_precision()``."""
    return torch.float32 if _working else torch.float64
