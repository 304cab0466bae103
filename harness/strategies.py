"""Hypothesis strategies shared by every property module: shapes, dtypes, seeds, positions, masks, sizes.

A tensor is drawn as a seed plus a shape and built by ``harness.inputs``: cheap
to draw, bit-identical on every machine, and a shrunk failure reads as a
handful of small integers.
"""

from __future__ import annotations

import itertools

import torch
from hypothesis import Phase, settings
from hypothesis import strategies as st

from harness.inputs import LAYOUTS, linear_weight, make_tensor, norm_gain, with_layout

ALL_FLOATS = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


WIDE_FLOATS = (torch.float64, torch.float32)


INDEX_DTYPES = (torch.int64, torch.int32)


def secondary_settings(profile: settings | None = None) -> settings:
    """The active profile, with a quarter of its examples (at least 3) and no shrinking: for the gradient and
    side-effect checks, which repeat the arguments of the differential check (its draws explore the shapes) and
    each cost a forward and a backward in three precisions. Their failures name the argument and the worst element
    without a smaller example. Called when a test module is imported, after the profile is loaded."""
    active = profile or settings.default
    return settings(active, max_examples=max(3, active.max_examples // 4), phases=(Phase.explicit, Phase.generate))


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


@st.composite
def shapes(draw: st.DrawFn, min_dims: int = 1, max_dims: int = 4, max_side: int = 8) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims)))


@st.composite
def tensors(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    scale: float = 1.0,
    grid: float | None = None,
) -> torch.Tensor:
    """A tensor from a drawn seed (see ``make_tensor``)."""
    return make_tensor(draw(seeds()), shape, dtype, device, scale=scale, grid=grid)


@st.composite
def positions(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    max_position: int = 64,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.int64,
) -> torch.Tensor:
    """Integer positions in ``[0, max_position)``: unsorted, repeats allowed, not starting at 0."""
    generator = torch.Generator().manual_seed(draw(seeds()))
    return torch.randint(0, max_position, shape, generator=generator).to(dtype=dtype, device=device)


@st.composite
def token_ids(
    draw: st.DrawFn, shape: tuple[int, ...], vocab_size: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(draw(seeds()))
    dtype = draw(st.sampled_from(INDEX_DTYPES))
    return torch.randint(0, vocab_size, shape, generator=generator).to(dtype=dtype, device=device)


@st.composite
def even_dims(draw: st.DrawFn, min_value: int = 2, max_value: int = 16) -> int:
    return 2 * draw(st.integers(max(1, min_value // 2), max_value // 2))


@st.composite
def head_layouts(draw: st.DrawFn, max_heads: int = 4, max_d_head: int = 8) -> tuple[int, int]:
    """``(num_heads, d_model)`` with ``d_model = num_heads · d_head`` and ``d_head`` even (RoPE needs pairs)."""
    num_heads = draw(st.integers(1, max_heads))
    d_head = draw(even_dims(2, max_d_head))
    return num_heads, num_heads * d_head


@st.composite
def broadcastable_shapes(draw: st.DrawFn, shape: tuple[int, ...], keep_last: bool = True) -> tuple[int, ...]:
    """A shape that broadcasts to ``shape``: some leading dims dropped, some others 1 (the last kept if asked).

    For ``token_positions`` against ``x.shape[:-1]``: ``(seq,)``, ``(1, seq)`` and ``(batch, seq)`` all come out.
    """
    if not shape:
        return ()
    kept = draw(st.integers(1 if keep_last else 0, len(shape)))
    tail = shape[len(shape) - kept :]
    ones = draw(st.lists(st.booleans(), min_size=kept, max_size=kept))
    if keep_last and ones:
        ones[-1] = False
    return tuple(1 if one else side for side, one in zip(tail, ones, strict=True))


@st.composite
def attention_masks(draw: st.DrawFn, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(..., n, m)`` masks, True = may attend, with at least one True per query row (SPEC §4)."""
    generator = torch.Generator().manual_seed(draw(seeds()))
    density = draw(st.sampled_from([0.2, 0.5, 0.9]))
    mask = torch.rand(shape, generator=generator) < density
    keep = torch.randint(0, shape[-1], (*shape[:-1], 1), generator=generator)
    return mask.scatter(-1, keep, True).to(device)


@st.composite
def attention_layouts(draw: st.DrawFn, max_heads: int = 4, max_d_model: int = 16) -> tuple[int, int]:
    """``(num_heads, d_model)`` with ``d_model ≤ max_d_model`` and an even head size; one head may take all of it."""
    num_heads = draw(st.integers(1, max_heads))
    d_head = draw(even_dims(2, max_d_model // num_heads))
    return num_heads, num_heads * d_head


def rope_thetas() -> st.SearchStrategy[float]:
    """RoPE bases Θ: the presets' (10⁴, 5·10⁵, 10⁶), small ones whose every pair turns fast, and any in between."""
    return st.one_of(st.sampled_from([10000.0, 500000.0, 1000000.0, 100.0, 2.0]), st.floats(1.5, 1e6))


def lead_shapes(max_dims: int = 3, max_side: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """Leading ``...`` dims like ``shapes(0, ...)``, but in one draw (each list element costs Hypothesis a draw).

    Shrinks towards ``()``, then towards fewer and smaller dims.
    """
    return st.sampled_from(
        [shape for dims in range(max_dims + 1) for shape in itertools.product(range(1, max_side + 1), repeat=dims)]
    )


# ---- whole arguments of an adapter, drawn in one place (differential and golden-independent laws use them)


def laid_out(data: st.DataObject, tensor: torch.Tensor, label: str) -> torch.Tensor:
    """``tensor`` in a drawn memory layout: contiguous, strided, or transposed (``.view`` cannot flatten it)."""
    return with_layout(tensor, data.draw(st.sampled_from(LAYOUTS), label=f"{label} layout"))


def floats(data: st.DataObject, shape: tuple[int, ...], dtype, device, label: str, scale: float = 1.0) -> torch.Tensor:
    """Seeded normal values rounded to ``dtype``, in a drawn memory layout."""
    return laid_out(
        data, make_tensor(data.draw(seeds(), label=f"{label} seed"), shape, dtype, device, scale=scale), label
    )


def weight(data: st.DataObject, d_out: int, d_in: int, dtype, device, label: str) -> torch.Tensor:
    """A ``(d_out, d_in)`` weight at the course's init scale, in a drawn memory layout."""
    return laid_out(data, linear_weight(data.draw(seeds(), label=f"{label} seed"), d_out, d_in, dtype, device), label)


def gain(data: st.DataObject, d_model: int, dtype, device, label: str) -> torch.Tensor:
    """An RMSNorm gain near 1 but not 1, so a norm that ignores or swaps its weight shows."""
    return norm_gain(data.draw(seeds(), label=f"{label} seed"), d_model, dtype, device)


def index_tensor(data: st.DataObject, shape: tuple[int, ...], high: int, device, label: str) -> torch.Tensor:
    """Integers in ``[0, high)`` of a drawn int32/int64 dtype: positions, unsorted, repeats allowed."""
    generator = torch.Generator().manual_seed(data.draw(seeds(), label=f"{label} seed"))
    dtype = data.draw(st.sampled_from(INDEX_DTYPES), label=f"{label} dtype")
    return torch.randint(0, high, shape, generator=generator).to(dtype=dtype, device=device)


# ---------------------------------------------------------------- judging


def projections(data: st.DataObject, num_heads: int, d_model: int, dtype, device) -> dict[str, torch.Tensor]:
    inner = d_model  # d_k = d_v = d_model / num_heads, so the heads together span d_model
    return {
        "q_proj_weight": weight(data, inner, d_model, dtype, device, "q_proj_weight"),
        "k_proj_weight": weight(data, inner, d_model, dtype, device, "k_proj_weight"),
        "v_proj_weight": weight(data, inner, d_model, dtype, device, "v_proj_weight"),
        "o_proj_weight": weight(data, d_model, inner, dtype, device, "o_proj_weight"),
    }


def layer_weights(data: st.DataObject, d_model: int, d_ff: int, dtype, device, prefix: str = "") -> dict:
    return {
        f"{prefix}attn.q_proj.weight": weight(data, d_model, d_model, dtype, device, f"{prefix}attn.q_proj"),
        f"{prefix}attn.k_proj.weight": weight(data, d_model, d_model, dtype, device, f"{prefix}attn.k_proj"),
        f"{prefix}attn.v_proj.weight": weight(data, d_model, d_model, dtype, device, f"{prefix}attn.v_proj"),
        f"{prefix}attn.output_proj.weight": weight(data, d_model, d_model, dtype, device, f"{prefix}attn.output_proj"),
        f"{prefix}ln1.weight": gain(data, d_model, dtype, device, f"{prefix}ln1"),
        f"{prefix}ln2.weight": gain(data, d_model, dtype, device, f"{prefix}ln2"),
        f"{prefix}ffn.w1.weight": weight(data, d_ff, d_model, dtype, device, f"{prefix}ffn.w1"),
        f"{prefix}ffn.w2.weight": weight(data, d_model, d_ff, dtype, device, f"{prefix}ffn.w2"),
        f"{prefix}ffn.w3.weight": weight(data, d_ff, d_model, dtype, device, f"{prefix}ffn.w3"),
    }
