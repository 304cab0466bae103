"""A syrupy extension that stores a tensor losslessly under a reviewable summary, and judges by dtype.

One ``.tensor`` text file per snapshot::

    dtype: float32
    shape: [2, 16, 64]
    summary: min -2.1  max 2.3  mean 0.0012
    sha256: 71207c9c…
    data (little-endian bytes, base64):
    ZToMQPHD2z5tip2/…

The header is what a reviewer reads in a diff; the data lines are the exact bytes. The summary's mean
is ``math.fsum`` of the values, so the text depends on the bytes alone, never on the machine.

What is compared is a ``Received``: the tensor (or the reason there is none) with the judge that rules
on it (``golden.judges``). ``Exact`` compares the whole text; the tolerance judges read the recorded
tensor back and compare numbers. A mismatch reports the law, the worst index and the max abs/rel error.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from golden.judges import Exact, dtype_name

_DTYPES = {dtype_name(dtype): dtype for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16)}
_DATA_LINE = "data (little-endian bytes, base64):"


class SnapshotFormatError(ValueError):
    """A ``.tensor`` file that does not parse or whose bytes do not match their checksum."""


def _raw(tensor: torch.Tensor) -> bytes:
    return tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""


def summary(tensor: torch.Tensor) -> str:
    """min/max/mean of the finite values (mean by ``math.fsum``: the same text on every machine) and a
    count of infinities and NaNs, if any."""
    if not tensor.numel():
        return "empty"
    wide = tensor.detach().cpu().to(torch.float64).reshape(-1)
    finite = wide[wide.isfinite()]
    nonfinite = f"  non-finite {wide.numel() - finite.numel()}" if finite.numel() < wide.numel() else ""
    if not finite.numel():
        return "no finite values" + nonfinite
    mean = math.fsum(finite.tolist()) / finite.numel()
    return f"min {finite.min().item():.9g}  max {finite.max().item():.9g}  mean {mean:.9g}{nonfinite}"


def serialize_tensor(tensor: torch.Tensor) -> str:
    """Header lines a reviewer reads in a diff (shape, dtype, range, checksum), then the exact bytes."""
    if tensor.dtype not in _DTYPES.values():
        raise TypeError(f"TensorSnapshotExtension stores {', '.join(_DTYPES)} tensors, got {tensor.dtype}")
    tensor = tensor.detach().cpu().contiguous()
    raw = _raw(tensor)
    encoded = base64.b64encode(raw).decode()
    return (
        f"dtype: {dtype_name(tensor.dtype)}\n"
        f"shape: {list(tensor.shape)}\n"
        f"summary: {summary(tensor)}\n"
        f"sha256: {hashlib.sha256(raw).hexdigest()}\n"
        f"{_DATA_LINE}\n" + "".join(f"{encoded[i : i + 76]}\n" for i in range(0, len(encoded), 76))
    )


def deserialize_tensor(text: str) -> torch.Tensor:
    """The recorded tensor, bit for bit; raises ``SnapshotFormatError`` on a damaged file."""
    head, separator, body = text.partition(_DATA_LINE + "\n")
    if not separator:
        raise SnapshotFormatError(f"no {_DATA_LINE!r} line: not a tensor snapshot")
    fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    try:
        dtype = _DTYPES[fields["dtype"]]
        shape = [int(side) for side in fields["shape"].strip("[]").split(",") if side.strip()]
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (KeyError, ValueError) as error:
        raise SnapshotFormatError(f"unreadable header or data: {error!r}") from None
    if hashlib.sha256(raw).hexdigest() != fields.get("sha256"):
        raise SnapshotFormatError("the data does not match its sha256 line (edited or truncated file)")
    if not raw:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def header(text: str) -> str:
    """The reviewable part of a snapshot text: everything above the data lines."""
    return text.partition(_DATA_LINE)[0].strip()


@dataclass(frozen=True)
class Received:
    """What an ``assert``-less golden comparison hands syrupy: a tensor to judge, or why there is none.

    ``problem`` (the call raised, or returned no tensor) always fails and is never written as a snapshot.
    """

    tensor: torch.Tensor | None
    judge: object
    law: str
    problem: str | None = None


class SerializedTensor(str):
    """The snapshot text of a ``Received``, still carrying it so ``matches`` can apply its judge."""

    received: Received
    failure: str | None

    def __new__(cls, text: str, received: Received) -> SerializedTensor:
        serialized = super().__new__(cls, text)
        serialized.received = received
        serialized.failure = None if received.problem is None else f"law broken: {received.law}\n  {received.problem}"
        return serialized


class TensorSnapshotExtension(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "tensor"

    def serialize(self, data: object, **kwargs) -> str:
        if isinstance(data, Received):
            if data.problem is not None:
                return SerializedTensor(f"<no tensor: {data.problem}>\n", data)
            return SerializedTensor(serialize_tensor(data.tensor), data)
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"TensorSnapshotExtension stores torch tensors, got {type(data).__name__}")
        return serialize_tensor(data)

    def matches(self, *, serialized_data: object, snapshot_data: object) -> bool:
        if not isinstance(serialized_data, SerializedTensor):
            return serialized_data == snapshot_data
        received = serialized_data.received
        if received.problem is not None:
            return False
        if isinstance(received.judge, Exact) and serialized_data == snapshot_data:
            return True
        serialized_data.failure = self._judge(received, str(snapshot_data))
        return serialized_data.failure is None

    @staticmethod
    def _judge(received: Received, snapshot_text: str) -> str | None:
        try:
            recorded = deserialize_tensor(snapshot_text)
        except SnapshotFormatError as error:
            return f"cannot judge {received.law}: the recorded snapshot is damaged: {error}"
        tensor = received.tensor.detach().cpu().contiguous()
        failure = received.judge.failure(tensor, recorded, received.law)
        if failure is None and isinstance(received.judge, Exact):
            # Same bytes, other text: a header written by hand or by an older format.
            return f"law broken: {received.law}\n  same bytes, but the header differs from what would be written now"
        return failure

    def diff_lines(self, serialized_data: object, snapshot_data: object) -> Iterator[str]:
        if not isinstance(serialized_data, SerializedTensor):
            yield from super().diff_lines(serialized_data, snapshot_data)
            return
        received = serialized_data.received
        if received.problem is None and serialized_data.failure is None and snapshot_data:
            serialized_data.failure = self._judge(received, str(snapshot_data))
        if not snapshot_data:
            yield "no recorded snapshot: record it with `python -m pytest golden --snapshot-update` (reference, CPU)"
        if serialized_data.failure:
            yield from serialized_data.failure.splitlines()
        yield f"  comparison: {getattr(received.judge, 'description', received.judge)}"
        if snapshot_data:
            yield "  recorded: " + "; ".join(header(str(snapshot_data)).splitlines())
        if received.problem is None:
            yield "  received: " + "; ".join(header(serialized_data).splitlines())
