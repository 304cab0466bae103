"""A syrupy extension that stores a tensor losslessly with a reviewable summary on top."""

from __future__ import annotations

import base64
import hashlib
import textwrap

import torch
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


def serialize_tensor(tensor: torch.Tensor) -> str:
    """Header lines a reviewer reads in a diff (shape, dtype, range, checksum), then the exact bytes."""
    tensor = tensor.detach().cpu().contiguous()
    raw = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
    wide = tensor.double()
    summary = (
        f"min {wide.min().item():.9g}  max {wide.max().item():.9g}  mean {wide.mean().item():.9g}"
        if tensor.numel()
        else "empty"
    )
    return (
        f"dtype: {str(tensor.dtype).removeprefix('torch.')}\n"
        f"shape: {list(tensor.shape)}\n"
        f"summary: {summary}\n"
        f"sha256: {hashlib.sha256(raw).hexdigest()}\n"
        "data (little-endian bytes, base64):\n" + "\n".join(textwrap.wrap(base64.b64encode(raw).decode(), 76)) + "\n"
    )


class TensorSnapshotExtension(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "tensor"

    def serialize(self, data: torch.Tensor, **kwargs) -> str:
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"TensorSnapshotExtension stores torch tensors, got {type(data).__name__}")
        return serialize_tensor(data)
