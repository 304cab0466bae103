"""Seeded constructors of tiny configurations, tensors and modules for the dtype/device and bad-input tests.

Floating-point values are drawn in float64 on the CPU from a generator seeded
per call, and only then rounded to the target dtype and moved to the target
device, so one seed gives the same numbers (up to rounding) in every dtype and
on every device, "meta" included.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from reference import TransformerConfig

M = TypeVar("M", bound=nn.Module)

# Smallest shapes that still exercise every code path: 4 heads of head_dim 4
# (two RoPE pairs, so the two layouts differ), and room for 2 or 1 k/v heads.
TINY = TransformerConfig(vocab_size=13, context_length=8, d_model=16, num_layers=1, num_heads=4, d_ff=24)

# Every variant switch of TransformerConfig (SPEC §2), one at a time.
VARIANTS: dict[str, TransformerConfig] = {
    "mha": TINY,
    "gqa": TINY.replace(num_kv_heads=2),
    "mqa": TINY.replace(num_kv_heads=1),
    "qkv_bias": TINY.replace(qkv_bias=True),
    "qk_norm_head_dim_6": TINY.replace(qk_norm=True, head_dim=6, norm_eps=1e-6),  # 4 heads x 6 != d_model 16
    "rope_half": TINY.replace(rope_layout="half"),
    "tied_embeddings": TINY.replace(tie_embeddings=True),
    "sinusoidal": TINY.replace(position_encoding="sinusoidal"),
    "no_position": TINY.replace(position_encoding="none"),
}


@dataclass(frozen=True)
class Builder:
    """Makes tensors and modules of one floating-point dtype on one device."""

    dtype: torch.dtype = torch.float32
    device: torch.device | str = "cpu"

    def floats(self, *shape: int, seed: int = 0, mean: float = 0.0, std: float = 1.0) -> Tensor:
        generator = torch.Generator().manual_seed(seed)
        values = mean + std * torch.randn(*shape, generator=generator, dtype=torch.float64)
        return values.to(dtype=self.dtype, device=self.device)

    def ids(self, *shape: int, high: int = TINY.vocab_size, seed: int = 0, dtype: torch.dtype = torch.int64) -> Tensor:
        """Integers in ``[0, high)``: token ids, targets."""
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(0, high, shape, generator=generator).to(dtype=dtype, device=self.device)

    def positions(self, seq: int, dtype: torch.dtype = torch.int64) -> Tensor:
        return torch.arange(seq, dtype=dtype, device=self.device)

    def module(self, factory: Callable[..., M], *args: object, seed: int = 0, **kwargs: object) -> M:
        """``factory(*args, device=..., dtype=...)`` with the global RNG seeded for its initialisation.

        Factories without a ``dtype`` argument (RoPE keeps float64 buffers) get only the device.
        The CPU generator is restored afterwards; ``manual_seed`` also reseeds CUDA, which is harmless here.
        """
        if "dtype" in inspect.signature(factory).parameters:
            kwargs["dtype"] = self.dtype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return factory(*args, device=self.device, **kwargs)


def strided(tensor: Tensor) -> Tensor:
    """The same values as a non-contiguous view: every other element of a buffer twice as long in the last dim."""
    return torch.stack((tensor, torch.zeros_like(tensor)), dim=-1)[..., 0]
