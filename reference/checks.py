"""Run-time argument checking shared by every public function and ``forward``.

Shapes and dtype kinds come from jaxtyping annotations, checked by beartype.
The rules annotations cannot express (tensors sharing one dtype and device,
integer ids inside their range) are checked here too, so a bad call fails at
the boundary with the argument's name instead of deep inside a matmul.

All of it can be switched off for speed: set ``REFERENCE_CHECKS=0`` in the
environment, or call ``set_checks(False)`` / use ``with checks(False):``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from beartype import BeartypeConf, beartype
from jaxtyping import AbstractDtype, jaxtyped
from torch import nn

F = TypeVar("F", bound=Callable)

_enabled = os.environ.get("REFERENCE_CHECKS", "1").strip().lower() not in {"0", "false", "off", "no"}


class Int32Or64(AbstractDtype):
    """Integer ids and positions: int32 or int64 (SPEC §4).

    Narrower than jaxtyping's ``Integer`` on purpose: torch reads a uint8
    index tensor as a boolean mask and rejects int16 indices deep inside.
    """

    dtypes = ["int32", "int64"]  # noqa: RUF012 (jaxtyping's own class attribute)


# The numeric tower lets an int stand where a float is annotated (theta=10000).
_typechecker = beartype(conf=BeartypeConf(is_pep484_tower=True))


class InputError(ValueError):
    """An argument breaks a rule that its type annotation cannot express."""


def checks_enabled() -> bool:
    return _enabled


def set_checks(enabled: bool) -> None:
    global _enabled
    _enabled = bool(enabled)


@contextlib.contextmanager
def checks(enabled: bool) -> Iterator[None]:
    previous = checks_enabled()
    set_checks(enabled)
    try:
        yield
    finally:
        set_checks(previous)


def shape_checked(fn: F) -> F:
    """Check ``fn``'s jaxtyping annotations and that its tensors share one dtype and one device.

    Every floating-point tensor argument must have one dtype (mixing float16
    activations with float32 weights is a silent precision bug elsewhere), and
    every tensor argument must sit on one device. For a module's ``forward``
    the module's parameters count as arguments, so a mismatch is reported
    where the caller made it.

    Checks run at the outermost checked call only: once a public call's
    arguments are validated, the reference's own calls inside it are trusted.
    Checking every nested call cost a third of a GPT-2-small forward on CPU.
    """
    checked = jaxtyped(typechecker=_typechecker)(fn)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _enabled or getattr(_call_state, "inside", False):
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        _require_one_dtype_and_device(fn.__qualname__, bound.arguments)
        _call_state.inside = True
        try:
            return checked(*args, **kwargs)
        finally:
            _call_state.inside = False

    return wrapper  # type: ignore[return-value]


_call_state = threading.local()


def _require_one_dtype_and_device(where: str, arguments: dict[str, object]) -> None:
    tensors = {name: value for name, value in arguments.items() if isinstance(value, torch.Tensor)}
    devices_only: dict[str, torch.device] = {}
    module = arguments.get("self")
    if isinstance(module, nn.Module):
        # One representative parameter per (dtype, device): enough to name the odd one out.
        seen: set[tuple[torch.dtype, torch.device]] = set()
        for name, parameter in module.named_parameters():
            if (parameter.dtype, parameter.device) not in seen:
                seen.add((parameter.dtype, parameter.device))
                tensors[f"the module's {name}"] = parameter
        if not seen:  # RoPE holds only its float64 cos/sin cache: its device counts, its dtype does not
            buffer = next(module.buffers(), None)
            if buffer is not None:
                devices_only = {"the module's buffers": buffer.device}
    devices = {name: t.device for name, t in tensors.items()} | devices_only
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise InputError(f"{where}: tensors must be on one device, got {listing}")
    dtypes = {name: t.dtype for name, t in tensors.items() if t.is_floating_point()}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{name} is {str(dtype).removeprefix('torch.')}" for name, dtype in dtypes.items())
        raise InputError(
            f"{where}: floating-point tensors must share one dtype, got {listing}; "
            "cast the weights to the input's dtype (module.to(dtype)) first"
        )


def require_feature_size(where: str, name: str, tensor: torch.Tensor, expected: int, dim_name: str) -> None:
    """The last dimension of a module's input matches the size the module was built with."""
    if _enabled and tensor.shape[-1] != expected:
        raise InputError(
            f"{where}: {name} has size {tensor.shape[-1]} in its last dimension, but the module was built "
            f"with {dim_name}={expected}"
        )


def require_index_range(where: str, name: str, ids: torch.Tensor, upper: int, meaning: str) -> None:
    """Every element of ``ids`` lies in ``[0, upper)``.

    Reading values forces a device sync and is impossible on the meta device,
    so this runs only while checks are on and the tensor holds real data.
    """
    if not _enabled or ids.device.type == "meta" or ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= upper:
        bad = low if low < 0 else high
        raise InputError(f"{where}: {name} contains {bad}, outside [0, {upper}) ({meaning})")
