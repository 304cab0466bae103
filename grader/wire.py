"""The message format between the grader and a sandboxed submission: JSON headers and raw tensor bytes.

No pickle crosses the boundary: a message is a length-prefixed JSON header
describing a tree of plain values and tensors, followed by each tensor's raw
bytes. Decoding validates everything a hostile sender controls (dtype names,
shapes, byte counts, nesting, sizes) and builds fresh ``torch.Tensor``
objects, so a lying tensor subclass on the other side cannot survive the trip.

This module is run by the sandbox worker as well, so it imports nothing of
the project.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, BinaryIO

import torch

DTYPES = {
    name: getattr(torch, name)
    for name in ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
}
# Caps on what one message may make the reader allocate. The suites' largest value (the course LM's
# logits, a batch of weights) is a few MB; a sender beyond these is buggy or hostile, and its message
# is refused before anything of that size is built.
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 256 << 20
MAX_NODES = 10_000
MAX_ELEMENTS = 1 << 24  # per tensor: a stride-0 view may not expand a few bytes into gigabytes
MAX_DEPTH = 8
_HEADER = struct.Struct(">Q")


class WireError(ValueError):
    """A message broke the format: the sender is buggy or hostile."""


def _encode(value: Any, buffers: list[bytes], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers)
    if value is None or isinstance(value, bool | int | str):
        return {"t": "plain", "v": value}
    if isinstance(value, float):
        return {"t": "float", "v": repr(value)}
    if isinstance(value, list | tuple):
        return {"t": type(value).__name__, "items": [_encode(item, buffers, depth + 1) for item in value]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise WireError("dict keys must be strings")
        return {"t": "dict", "items": {key: _encode(item, buffers, depth + 1) for key, item in value.items()}}
    raise WireError(f"a {type(value).__name__} cannot be sent, only tensors and plain values")


def _encode_tensor(value: torch.Tensor, buffers: list[bytes]) -> dict[str, Any]:
    """Shape, strides and the span of storage the tensor covers, so a non-contiguous input arrives as one."""
    # Through the base class's own methods, so an overriding subclass cannot change what is sent.
    plain = torch.Tensor.cpu(torch.Tensor.detach(value))
    dtype = str(plain.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise WireError(f"tensor dtype {dtype} cannot be sent")
    shape, stride = list(plain.shape), list(plain.stride())
    span = 1 + sum((size - 1) * step for size, step in zip(shape, stride, strict=True)) if plain.numel() else 0
    if span < plain.numel():  # an expanded view: sent whole, as the reader refuses tensors that overlap themselves
        plain = torch.Tensor.contiguous(plain)
        shape, stride, span = list(plain.shape), list(plain.stride()), plain.numel()
    covered = torch.as_strided(plain, (span,), (1,), plain.storage_offset())
    buffers.append(torch.Tensor.clone(covered).view(torch.uint8).numpy().tobytes() if span else b"")
    return {"t": "tensor", "dtype": dtype, "shape": shape, "stride": stride, "device": str(value.device)}


def write_message(stream: BinaryIO, kind: str, value: Any = None) -> None:
    buffers: list[bytes] = []
    header = json.dumps({"kind": kind, "value": _encode(value, buffers), "sizes": [len(b) for b in buffers]})
    payload = header.encode()
    stream.write(_HEADER.pack(len(payload)) + payload + b"".join(buffers))
    stream.flush()


def _read_exactly(stream: BinaryIO, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO, device: torch.device | str = "cpu") -> tuple[str, Any, list[str]]:
    """``(kind, value, devices)``: tensors are built on ``device``; ``devices`` lists where the sender had each."""
    (length,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    if length > MAX_HEADER_BYTES:
        raise WireError(f"header of {length} bytes (at most {MAX_HEADER_BYTES})")
    try:
        header = json.loads(_read_exactly(stream, length))
        kind, tree, sizes = header["kind"], header["value"], header["sizes"]
    except (ValueError, KeyError, TypeError) as error:
        raise WireError(f"malformed header: {error}") from None
    if (
        not isinstance(kind, str)
        or not isinstance(sizes, list)
        or not all(isinstance(s, int) and s >= 0 for s in sizes)
    ):
        raise WireError("malformed header fields")
    if sum(sizes) > MAX_PAYLOAD_BYTES or len(sizes) > MAX_NODES:
        raise WireError(f"payload of {sum(sizes)} bytes in {len(sizes)} tensors (at most {MAX_PAYLOAD_BYTES})")
    if _count_nodes(tree) > MAX_NODES:
        raise WireError(f"more than {MAX_NODES} values in one message")
    buffers = iter([_read_exactly(stream, size) for size in sizes])
    devices: list[str] = []
    value = _decode(tree, buffers, torch.device(device), devices)
    if next(buffers, None) is not None:
        raise WireError("more buffers than tensors")
    return kind, value, devices


def _count_nodes(tree: Any) -> int:
    """Values in a decoded JSON tree, counted without recursion (a hostile tree may be arbitrarily deep)."""
    count, stack = 0, [tree]
    while stack and count <= MAX_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def _decode(node: Any, buffers, device: torch.device, devices: list[str], depth: int = 0) -> Any:
    if depth > MAX_DEPTH or not isinstance(node, dict):
        raise WireError("malformed value")
    kind = node.get("t")
    if kind == "plain":
        value = node.get("v")
        if value is not None and not isinstance(value, bool | int | str):
            raise WireError("malformed plain value")
        return value
    if kind == "float":
        try:
            return float(node["v"])
        except (KeyError, TypeError, ValueError):
            raise WireError("malformed float") from None
    if kind in ("list", "tuple"):
        items = [_decode(item, buffers, device, devices, depth + 1) for item in node.get("items", [])]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        items = node.get("items", {})
        if not isinstance(items, dict):
            raise WireError("malformed dict")
        return {str(key): _decode(item, buffers, device, devices, depth + 1) for key, item in items.items()}
    if kind == "tensor":
        return _decode_tensor(node, buffers, device, devices)
    raise WireError(f"unknown value kind {kind!r}")


def _decode_tensor(node: dict, buffers, device: torch.device, devices: list[str]) -> torch.Tensor:
    dtype, shape = DTYPES.get(node.get("dtype")), node.get("shape")
    if dtype is None:
        raise WireError(f"tensor dtype {node.get('dtype')!r} not allowed")
    if not isinstance(shape, list) or not all(_natural(s) for s in shape):
        raise WireError(f"malformed tensor shape {shape!r}")
    stride = node.get("stride")
    if not isinstance(stride, list) or len(stride) != len(shape) or not all(_natural(s) for s in stride):
        raise WireError(f"malformed tensor strides {stride!r}")
    numel = math.prod(shape)
    if numel > MAX_ELEMENTS:
        raise WireError(f"tensor of shape {shape}: more than {MAX_ELEMENTS} elements")
    raw = next(buffers, None)
    if raw is None:
        raise WireError("tensor without its bytes")
    span = 1 + sum((size - 1) * step for size, step in zip(shape, stride, strict=True)) if numel else 0
    if span < numel:
        raise WireError(f"tensor of shape {shape} with strides {stride} overlaps itself (e.g. an expanded view)")
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != span * itemsize:
        raise WireError(f"tensor of shape {shape}, strides {stride}, dtype {node['dtype']} sent with {len(raw)} bytes")
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    claimed = node.get("device")
    devices.append(claimed if isinstance(claimed, str) else "unknown")
    storage = flat.view(dtype).to(device)
    return torch.as_strided(storage, shape, stride) if span else torch.empty(shape, dtype=dtype, device=device)


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
