"""Seeded inputs, the one way every suite builds tensors: properties (from drawn seeds), golden and the diagnosis.

Values come from ``torch.Generator`` on the CPU in float64, then are rounded
and moved: bit-identical on every machine, whatever the device under test.
Two families: normal values from an integer seed (``make_tensor``; what a
Hypothesis draw turns into), and values named by a string and exact in all
four float dtypes (``uniform``; the golden cases, whose float64 snapshot is the
exact truth for their float16/bfloat16 outputs, see ``golden/inputs.py``).
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib

import torch
from torch import Tensor


def make_tensor(
    seed: int,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    *,
    scale: float = 1.0,
    grid: float | None = None,
) -> torch.Tensor:
    """Normal values times ``scale`` from ``seed``; ``grid`` rounds to multiples of it (exact shifts)."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    if grid is not None:
        values = torch.round(values / grid) * grid
    return values.to(dtype=dtype, device=device)


def linear_weight(seed: int, d_out: int, d_in: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """A weight scaled like the course's init (σ² = 2/(d_in+d_out)), so activations stay O(1) through a stack."""
    return make_tensor(seed, (d_out, d_in), dtype, device, scale=(2.0 / (d_in + d_out)) ** 0.5)


def noncontiguous(tensor: torch.Tensor) -> torch.Tensor:
    """The same values as a non-contiguous view: every other element of a buffer twice as long in the last dim."""
    if tensor.dim() == 0:
        return tensor
    return torch.stack((tensor, torch.zeros_like(tensor)), dim=-1)[..., 0]


def norm_gain(seed: int, d: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """An RMSNorm gain near its init of 1 but not equal to it, so that two norms swapped or shared show."""
    return (1.0 + make_tensor(seed, (d,), torch.float64, scale=0.25)).to(dtype=dtype, device=device)


ATTENTION_WEIGHT_NAMES = ("q_proj_weight", "k_proj_weight", "v_proj_weight", "o_proj_weight")


def attention_weights(
    seed: int, d_model: int, dtype: torch.dtype, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """q/k/v/o projections ``(d_model, d_model)`` under the MHA adapters' keyword names (SPEC §4)."""
    return {
        name: linear_weight(seed + i, d_model, d_model, dtype, device) for i, name in enumerate(ATTENTION_WEIGHT_NAMES)
    }


def block_weights(
    seed: int, d_model: int, d_ff: int, dtype: torch.dtype, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """One layer's state dict in the course keys without the ``layers.{i}.`` prefix (SPEC §1, §4)."""
    weights = {
        f"attn.{name}.weight": linear_weight(seed + i, d_model, d_model, dtype, device)
        for i, name in enumerate(("q_proj", "k_proj", "v_proj", "output_proj"))
    }
    weights["ln1.weight"] = norm_gain(seed + 4, d_model, dtype, device)
    weights["ln2.weight"] = norm_gain(seed + 5, d_model, dtype, device)
    weights["ffn.w1.weight"] = linear_weight(seed + 6, d_ff, d_model, dtype, device)
    weights["ffn.w2.weight"] = linear_weight(seed + 7, d_model, d_ff, dtype, device)
    weights["ffn.w3.weight"] = linear_weight(seed + 8, d_ff, d_model, dtype, device)
    return weights


def lm_weights(
    seed: int,
    vocab_size: int,
    d_model: int,
    num_layers: int,
    d_ff: int,
    dtype: torch.dtype,
    device: torch.device | str,
) -> dict[str, torch.Tensor]:
    """The whole course state dict (SPEC §1): embeddings N(0, 1), untied ``lm_head``, every layer its own seeds."""
    weights = {"token_embeddings.weight": make_tensor(seed, (vocab_size, d_model), dtype, device)}
    for i in range(num_layers):
        layer = block_weights(seed + 16 * (i + 1), d_model, d_ff, dtype, device)
        weights |= {f"layers.{i}.{key}": value for key, value in layer.items()}
    weights["ln_final.weight"] = norm_gain(seed + 1, d_model, dtype, device)
    weights["lm_head.weight"] = linear_weight(seed + 2, vocab_size, d_model, dtype, device)
    return weights


def exact_grid(dtype: torch.dtype, magnitude: float) -> float:
    """A spacing whose multiples up to ``magnitude`` are all exact in ``dtype``: the ulp at the next power of two.

    Inputs on this grid make shifts such as ``x + 1000`` exact, so a law like shift invariance needs no tolerance
    for the input's own rounding (float16 at 1000: 1; bfloat16: 8; float32: 2⁻¹³).
    """
    return torch.finfo(dtype).eps * 2.0 ** math.ceil(math.log2(magnitude))


def make_ids(
    seed: int, shape: tuple[int, ...], high: int, dtype: torch.dtype = torch.int64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Integers in ``[0, high)`` from ``seed``, like ``make_tensor``: one drawn seed can make ids and floats alike."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=generator).to(dtype=dtype, device=device)


LAYOUTS = ("contiguous", "strided", "transposed")


def with_layout(tensor: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values in another memory layout, one of ``LAYOUTS``.

    ``"strided"`` is ``noncontiguous`` (every other element of the last dim), which ``.view(-1, d)`` still accepts;
    ``"transposed"`` stores the dimensions in reverse order, so leading dimensions cannot be merged by ``.view`` (a
    student's flattening breaks, as it would on a transposed activation) and the last dim has a stride other than 1.
    """
    if layout == "contiguous":
        return tensor
    if layout == "strided":
        return noncontiguous(tensor)
    if layout == "transposed":
        order = tuple(reversed(range(tensor.dim())))
        return tensor.permute(order).contiguous().permute(order)
    raise ValueError(f"with_layout: unknown layout {layout!r}; choose from {LAYOUTS}")


def broadcast_variants(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every shape that broadcasts to ``shape`` keeping its last dim, shortest first: draw one with ``sampled_from``.

    For ``token_positions`` against ``x.shape[:-1]``: ``(seq,)``, ``(1, seq)``, ``(batch, seq)`` and so on.
    """
    variants = [] if shape else [()]
    for kept in range(1, len(shape) + 1):
        tail = shape[len(shape) - kept :]
        options = [(1, side) if side != 1 else (1,) for side in tail[:-1]]
        variants += [(*lead, tail[-1]) for lead in itertools.product(*options)]
    return variants


def agreed_position_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The ``broadcast_variants`` of ``shape`` on which every reading of RoPE's positions agrees (SPEC §4).

    Students who built RoPE for ``(batch, heads, seq, d)`` read ``(b2, seq)`` positions against a
    ``(b1, b2, seq, d)`` input left-aligned; the usual rule aligns right. Both agree on ``(seq,)``, on
    leading dims that are all 1, and on the input's full leading shape: the only shapes scored checks use.
    """
    return [v for v in broadcast_variants(shape) if all(side == 1 for side in v[:-1]) or v == shape]


def disputed_position_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The other ``broadcast_variants``: right-aligned broadcasting of these is a finding, not scored."""
    agreed = agreed_position_shapes(shape)
    return [v for v in broadcast_variants(shape) if v not in agreed]


# Golden cases: exact in float64, float32, float16 and bfloat16, seeded by a name.
_RESOLUTION = 2**20  # integer draws in [-2²⁰, 2²⁰], far finer than the bfloat16 grid they are rounded to
_FLOAT16_TINY = 2.0**-14  # smallest normal float16; smaller magnitudes become 0 so float16 holds them exactly


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def on_shared_grid(x: Tensor) -> Tensor:
    """``x`` rounded to a value that float64, float32, float16 and bfloat16 all represent exactly."""
    rounded = x.to(torch.bfloat16).to(torch.float64)
    return torch.where(rounded.abs() < _FLOAT16_TINY, 0.0, rounded)


@functools.cache
def uniform(name: str, shape: tuple[int, ...], scale: float = 1.0) -> Tensor:
    """Values in ``[-scale, scale]`` on the shared grid; float64 on the CPU."""
    generator = torch.Generator().manual_seed(seed_of(name))
    draws = torch.randint(-_RESOLUTION, _RESOLUTION + 1, shape, generator=generator, dtype=torch.int64)
    return on_shared_grid(draws.to(torch.float64) * (scale / _RESOLUTION))


@functools.cache
def integers(name: str, shape: tuple[int, ...], high: int) -> Tensor:
    """int64 values in ``[0, high)``: token ids, targets, positions (unsorted, repeats allowed)."""
    generator = torch.Generator().manual_seed(seed_of(name))
    return torch.randint(0, high, shape, generator=generator, dtype=torch.int64)


def with_new_future(tensor: torch.Tensor, replacement: torch.Tensor, last_kept: int, dim: int) -> torch.Tensor:
    """``tensor`` with every index after ``last_kept`` along ``dim`` taken from ``replacement``."""
    kept = torch.arange(tensor.shape[dim], device=tensor.device) <= last_kept
    kept = kept.reshape((-1,) + (1,) * (-dim - 1))
    return torch.where(kept, tensor, replacement)
