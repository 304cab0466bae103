"""Hypothesis strategies shared by every property module: shapes, dtypes and tensors."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


@st.composite
def shapes(draw: st.DrawFn, min_dims: int = 1, max_dims: int = 4, max_side: int = 8) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims)))


@st.composite
def tensors(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    scale: float = 3.0,
    device: torch.device | str = "cpu",
    grid: float | None = None,
) -> torch.Tensor:
    """Normal values times ``scale`` from a drawn seed: cheap to draw, reproducible from the seed alone.

    ``grid`` rounds values to multiples of it, so that adding a constant on the
    same grid is exact in floating point and a law can be checked without
    blaming the implementation for the rounding of its input.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    if grid is not None:
        values = torch.round(values / grid) * grid
    return values.to(dtype=dtype, device=device)
