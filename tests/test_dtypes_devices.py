"""Dtypes, devices and memory layouts (SPEC §4 "Dtypes"): what every component must accept.

* every component runs in float64, float32, float16 and bfloat16 (modules built
  in that dtype) and returns finite values of the input's dtype;
* every component runs on ``device="meta"`` (modules built there): nothing
  hard-codes a CPU tensor, and a deliberately broken module shows the meta run
  would catch one that did;
* RMSNorm and softmax (softmax_with_temperature's division by T included)
  compute in float32 or wider, so float16 inputs whose squares / exponentials
  / quotients overflow float16 still match the float64 result;
* non-contiguous views give the result of their contiguous copies;
* int32 and int64 ids, targets and positions give identical results.

Tests take the root conftest's ``device`` fixture ("cpu", or "cuda" under
``--device cuda``), except the meta run, which needs no hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from reference import (
    CausalMultiHeadSelfAttention,
    Embedding,
    Linear,
    RMSNorm,
    RotaryPositionalEmbedding,
    SwiGLU,
    TransformerBlock,
    TransformerConfig,
    TransformerLM,
    apply_rope_half,
    apply_rope_interleaved,
    causal_mask,
    convert_rope_layout,
    cross_entropy,
    embedding,
    group_query_heads,
    linear,
    multihead_self_attention,
    rmsnorm,
    rope,
    rope_angles,
    rotary_embedding,
    scaled_dot_product_attention,
    silu,
    sinusoidal_positions,
    softmax,
    softmax_with_temperature,
    swiglu,
    transformer_block,
    transformer_lm,
)
from tests.builders import TINY, VARIANTS, Builder, strided

FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
LOW_PRECISION = (torch.float16, torch.bfloat16)
MHA = CausalMultiHeadSelfAttention

Run = Callable[[Builder], Tensor]


def _dtype_id(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _cos_sin(b: Builder, seq: int, d_k: int) -> tuple[Tensor, Tensor]:
    angles = rope_angles(b.positions(seq), d_k, 10000.0)
    return angles.cos().to(b.dtype), angles.sin().to(b.dtype)


def _sdpa(b: Builder) -> Tensor:
    # 3 query heads share one k/v head by broadcasting; 5 queries, 6 keys, d_v 4 != d_k 8.
    mask = torch.ones(5, 6, dtype=torch.bool, device=b.device).tril(1)
    return scaled_dot_product_attention(
        b.floats(2, 3, 5, 8), b.floats(2, 1, 6, 8, seed=1), b.floats(2, 1, 6, 4, seed=2), mask
    )


def _swiglu_weights(b: Builder) -> tuple[Tensor, Tensor, Tensor]:
    return b.floats(12, 8, seed=1, std=0.3), b.floats(8, 12, seed=2, std=0.3), b.floats(12, 8, seed=3, std=0.3)


def _lm_run(config: TransformerConfig) -> Run:
    return lambda b: b.module(TransformerLM, config)(b.ids(2, 5))


# Every component whose input or weights are floating point, called on tiny seeded inputs.
FLOAT_COMPONENTS: dict[str, Run] = {
    "linear": lambda b: linear(b.floats(2, 3, 5), b.floats(4, 5, seed=1)),
    "Linear": lambda b: b.module(Linear, 5, 4)(b.floats(2, 3, 5)),
    "Linear-bias": lambda b: b.module(Linear, 5, 4, bias=True)(b.floats(2, 3, 5)),
    "embedding": lambda b: embedding(b.ids(2, 3, high=7), b.floats(7, 4)),
    "Embedding": lambda b: b.module(Embedding, 7, 4)(b.ids(2, 3, high=7)),
    "rmsnorm": lambda b: rmsnorm(b.floats(2, 3, 8), b.floats(8, seed=1, mean=1.0, std=0.1)),
    "RMSNorm": lambda b: b.module(RMSNorm, 8)(b.floats(2, 3, 8)),
    "silu": lambda b: silu(b.floats(2, 3, 8)),
    "swiglu": lambda b: swiglu(b.floats(2, 3, 8), *_swiglu_weights(b)),
    "SwiGLU": lambda b: b.module(SwiGLU, 8, 12)(b.floats(2, 3, 8)),
    "rope-interleaved": lambda b: rope(b.floats(2, 4, 5, 8), b.positions(5), 10000.0),
    "rope-half": lambda b: rope(b.floats(2, 4, 5, 8), b.positions(5), 10000.0, "half"),
    "RotaryPositionalEmbedding-interleaved": lambda b: b.module(RotaryPositionalEmbedding, 10000.0, 8, 16)(
        b.floats(2, 4, 5, 8), b.positions(5)
    ),
    "RotaryPositionalEmbedding-half": lambda b: b.module(RotaryPositionalEmbedding, 10000.0, 8, 16, layout="half")(
        b.floats(2, 4, 5, 8), b.positions(5)
    ),
    "rotary_embedding-half": lambda b: b.module(rotary_embedding, VARIANTS["rope_half"])(
        b.floats(2, 4, 5, 4), b.positions(5)
    ),
    "apply_rope_interleaved": lambda b: apply_rope_interleaved(b.floats(2, 5, 8), *_cos_sin(b, 5, 8)),
    "apply_rope_half": lambda b: apply_rope_half(b.floats(2, 5, 8), *_cos_sin(b, 5, 8)),
    "softmax": lambda b: softmax(b.floats(2, 3, 7)),
    "softmax-dim_0": lambda b: softmax(b.floats(7, 3), dim=0),
    "softmax_with_temperature": lambda b: softmax_with_temperature(b.floats(2, 7), 0.5),
    "scaled_dot_product_attention": _sdpa,
    "group_query_heads": lambda b: group_query_heads(b.floats(2, 4, 5, 8), 2),
    "CausalMultiHeadSelfAttention": lambda b: b.module(MHA, TINY)(b.floats(2, 5, 16)),
    "CausalMultiHeadSelfAttention-gqa": lambda b: b.module(MHA, VARIANTS["gqa"])(b.floats(2, 5, 16), b.positions(5)),
    "TransformerBlock": lambda b: b.module(TransformerBlock, TINY)(b.floats(2, 5, 16)),
    "multihead_self_attention": lambda b: multihead_self_attention(
        b.floats(2, 5, 16), b.module(MHA, TINY).state_dict(), TINY
    ),
    "transformer_block": lambda b: transformer_block(
        b.floats(2, 5, 16), b.module(TransformerBlock, TINY).state_dict(), TINY
    ),
    "transformer_lm": lambda b: transformer_lm(b.ids(2, 5), b.module(TransformerLM, TINY).state_dict(), TINY),
    **{f"TransformerLM-{name}": _lm_run(config) for name, config in VARIANTS.items()},
    "cross_entropy": lambda b: cross_entropy(b.floats(2, 3, 7), b.ids(2, 3, high=7)),
    "convert_rope_layout": lambda b: convert_rope_layout(b.floats(16, 8), 4, "interleaved", "half"),
}

# Components with only integer inputs: RoPE angles and sinusoids are float64 tables, the causal mask is bool.
POSITION_TABLES: dict[str, Callable[[Tensor], Tensor]] = {
    "rope_angles": lambda positions: rope_angles(positions, 8, 10000.0),
    "sinusoidal_positions": lambda positions: sinusoidal_positions(positions, 8),
}
INTEGER_COMPONENTS: dict[str, Run] = {
    **{name: (lambda b, table=table: table(b.positions(5))) for name, table in POSITION_TABLES.items()},
    "causal_mask": lambda b: causal_mask(5, device=b.device),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("name", list(FLOAT_COMPONENTS))
def test_output_keeps_the_input_dtype_and_is_finite(name: str, dtype: torch.dtype, device: torch.device) -> None:
    """Inputs and modules of one float dtype give a finite output of that dtype (internal upcasting allowed)."""
    out = FLOAT_COMPONENTS[name](Builder(dtype, device))
    assert out.dtype == dtype, f"{name} on {device}: {_dtype_id(dtype)} input gave a {_dtype_id(out.dtype)} output"
    assert out.device.type == device.type, f"{name}: input on {device}, output on {out.device}"
    assert torch.isfinite(out).all(), f"{name} in {_dtype_id(dtype)} on {device}: non-finite output {out}"


@pytest.mark.parametrize("integer_dtype", (torch.int32, torch.int64), ids=_dtype_id)
@pytest.mark.parametrize("name", list(POSITION_TABLES))
def test_position_tables_are_float64(name: str, integer_dtype: torch.dtype, device: torch.device) -> None:
    """RoPE angles and sinusoids are float64 whatever the positions' dtype; callers round them once."""
    out = POSITION_TABLES[name](Builder(device=device).positions(5, dtype=integer_dtype))
    assert out.dtype == torch.float64, f"{name}: {_dtype_id(integer_dtype)} positions gave {_dtype_id(out.dtype)}"
    assert torch.isfinite(out).all()


# ----- meta device: nothing may be created on the default device -----

META = Builder(torch.float32, device="meta")


def _assert_runs_on_meta(name: str, run: Run) -> Tensor:
    """Build and run on the meta device; the output must stay there (a CPU tensor mixed in raises first)."""
    out = run(META)
    assert out.device.type == "meta", f"{name}: inputs and module on meta, output on {out.device}"
    return out


@pytest.mark.parametrize("name", list(FLOAT_COMPONENTS) + list(INTEGER_COMPONENTS))
def test_runs_on_the_meta_device(name: str) -> None:
    """Modules built with ``device="meta"`` and meta inputs run, with the shape and dtype of a CPU run."""
    run = {**FLOAT_COMPONENTS, **INTEGER_COMPONENTS}[name]
    out = _assert_runs_on_meta(name, run)
    on_cpu = run(Builder(torch.float32, "cpu"))
    assert (out.shape, out.dtype) == (on_cpu.shape, on_cpu.dtype), f"{name}: meta and cpu runs disagree"


class _ArangeOnDefaultDevice(nn.Module):
    """Adds ``torch.arange(seq)`` made without ``device=``: the bug the meta run exists to catch."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.arange(x.shape[-2], dtype=x.dtype)[:, None]


class _ReturnsOnDefaultDevice(nn.Module):
    """Returns a fresh ``torch.zeros(shape)`` made without ``device=``, never touching the input's device."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros(x.shape, dtype=x.dtype)


@pytest.mark.parametrize(
    ("broken", "error"),
    [(_ArangeOnDefaultDevice, RuntimeError), (_ReturnsOnDefaultDevice, AssertionError)],
    ids=["mixes_in_a_cpu_arange", "returns_a_cpu_tensor"],
)
def test_meta_run_catches_a_tensor_made_on_the_default_device(
    broken: type[nn.Module], error: type[BaseException]
) -> None:
    """The meta check above has teeth: a module that hard-codes the CPU runs on CPU but fails on meta."""
    run: Run = lambda b: b.module(broken)(b.floats(2, 5, 8))  # noqa: E731
    assert run(Builder()).device.type == "cpu"
    with pytest.raises(error):
        _assert_runs_on_meta(broken.__name__, run)


# ----- low precision: RMSNorm and softmax compute in float32 or wider -----


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=_dtype_id)
def test_rmsnorm_of_large_inputs_matches_float64(dtype: torch.dtype, device: torch.device) -> None:
    """Inputs ~300 (squares ~9e4 overflow float16's 65504) give the float64 RMSNorm at ``dtype``'s tolerance.

    bfloat16 shares float32's exponent range, so there nothing overflows; it checks accuracy only.
    """
    b = Builder(dtype, device)
    x, weight = b.floats(4, 64, mean=300.0, std=20.0), b.floats(64, seed=1, mean=1.0, std=0.1)
    if dtype == torch.float16:
        assert torch.isinf(x.pow(2)).any(), "test input too easy: its squares do not overflow float16"
    x64, weight64 = x.double(), weight.double()
    truth = x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-5) * weight64
    module = b.module(RMSNorm, 64)
    with torch.no_grad():
        module.weight.copy_(weight)
    for out in (rmsnorm(x, weight), module(x)):
        assert out.dtype == dtype
        assert torch.isfinite(out).all(), f"RMSNorm of {_dtype_id(dtype)} inputs ~300 is not finite: {out}"
        torch.testing.assert_close(out, truth, check_dtype=False)  # tolerance of the lower precision


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=_dtype_id)
def test_softmax_of_large_logits_matches_float64(dtype: torch.dtype, device: torch.device) -> None:
    """Logits ~300 (exp overflows float16 at ~11) give the float64 softmax at ``dtype``'s tolerance."""
    b = Builder(dtype, device)
    x = b.floats(4, 64, mean=300.0, std=3.0)
    if dtype == torch.float16:
        assert torch.isinf(x.exp()).all(), "test input too easy: exp does not overflow float16"
    truth = torch.softmax(x.double(), dim=-1)
    for out in (softmax(x), softmax(x.T, dim=0).T, softmax_with_temperature(x, 1.0)):
        assert out.dtype == dtype
        assert torch.isfinite(out).all(), f"softmax of {_dtype_id(dtype)} logits ~300 is not finite: {out}"
        torch.testing.assert_close(out, truth, check_dtype=False)


def test_softmax_with_small_temperature_in_float16_approaches_argmax(device: torch.device) -> None:
    """T -> 0 approaches argmax (SPEC §2) in float16 too: logits 100/T overflow float16 only if divided there."""
    logits = torch.tensor([[100.0, 99.0, 10.0]], dtype=torch.float16, device=device)
    assert torch.isinf(logits / 1e-3).any(), "test input too easy: logits / T do not overflow float16"
    truth = torch.softmax(logits.double() / 1e-3, dim=-1)
    out = softmax_with_temperature(logits, 1e-3)
    assert torch.isfinite(out).all(), f"float16 softmax_with_temperature(T=1e-3) is not finite: {out}"
    torch.testing.assert_close(out, truth, check_dtype=False)


# ----- non-contiguous inputs -----

Call = tuple[Callable[..., Tensor], tuple[Any, ...]]


def _x_seq_major(b: Builder, batch: int, seq: int, d: int) -> Tensor:
    """``(batch, seq, d)`` as a transposed view of a ``(seq, batch, d)`` buffer."""
    return b.floats(seq, batch, d).transpose(0, 1)


NON_CONTIGUOUS_CALLS: dict[str, Callable[[Builder], Call]] = {
    "linear": lambda b: (linear, (_x_seq_major(b, 2, 3, 5), b.floats(5, 4, seed=1).T)),
    "Linear": lambda b: (b.module(Linear, 5, 4), (_x_seq_major(b, 2, 3, 5),)),
    "embedding": lambda b: (embedding, (b.ids(3, 2, high=7).T, b.floats(4, 7, seed=1).T)),
    "Embedding": lambda b: (b.module(Embedding, 7, 4), (b.ids(3, 2, high=7).T,)),
    "rmsnorm": lambda b: (rmsnorm, (strided(b.floats(2, 3, 8)), strided(b.floats(8, seed=1, mean=1.0, std=0.1)))),
    "RMSNorm": lambda b: (b.module(RMSNorm, 8), (strided(b.floats(2, 3, 8)),)),
    "silu": lambda b: (silu, (b.floats(4, 3).T,)),
    "softmax": lambda b: (softmax, (b.floats(7, 3).T,)),
    "softmax-dim_0": lambda b: (lambda x: softmax(x, dim=0), (b.floats(3, 7).T,)),
    "softmax_with_temperature": lambda b: (lambda x: softmax_with_temperature(x, 0.5), (b.floats(7, 3).T,)),
    "swiglu": lambda b: (swiglu, (_x_seq_major(b, 2, 3, 8), *(w.T.contiguous().T for w in _swiglu_weights(b)))),
    "SwiGLU": lambda b: (b.module(SwiGLU, 8, 12), (_x_seq_major(b, 2, 3, 8),)),
    "rope": lambda b: (rope, (b.floats(2, 8, 5).mT, strided(b.positions(5)), 10000.0)),
    "RotaryPositionalEmbedding": lambda b: (
        b.module(RotaryPositionalEmbedding, 10000.0, 8, 16),
        (b.floats(2, 8, 5).mT, b.positions(10)[::2]),
    ),
    "apply_rope_interleaved": lambda b: (
        apply_rope_interleaved,
        (b.floats(2, 8, 5).mT, *(strided(t) for t in _cos_sin(b, 5, 8))),
    ),
    "apply_rope_half": lambda b: (apply_rope_half, (b.floats(2, 8, 5).mT, *(strided(t) for t in _cos_sin(b, 5, 8)))),
    "scaled_dot_product_attention": lambda b: (
        scaled_dot_product_attention,
        (
            b.floats(2, 8, 5).mT,
            b.floats(2, 8, 6, seed=1).mT,
            strided(b.floats(2, 6, 4, seed=2)),
            torch.ones(6, 5, dtype=torch.bool, device=b.device).triu(-1).T,
        ),
    ),
    "CausalMultiHeadSelfAttention": lambda b: (
        b.module(MHA, TINY),
        (_x_seq_major(b, 2, 5, 16), strided(b.positions(5))),
    ),
    "TransformerBlock": lambda b: (
        b.module(TransformerBlock, TINY),
        (_x_seq_major(b, 2, 5, 16), strided(b.positions(5))),
    ),
    "TransformerLM": lambda b: (b.module(TransformerLM, TINY), (b.ids(5, 2).T, strided(b.positions(5)))),
    "cross_entropy": lambda b: (cross_entropy, (b.floats(7, 2, 3).permute(1, 2, 0), b.ids(3, 2, high=7).T)),
    "convert_rope_layout": lambda b: (lambda w: convert_rope_layout(w, 4, "interleaved", "half"), (b.floats(8, 16).T,)),
    "rope_angles": lambda b: (lambda p: rope_angles(p, 8, 10000.0), (strided(b.positions(5)),)),
    "sinusoidal_positions": lambda b: (lambda p: sinusoidal_positions(p, 8), (strided(b.positions(5)),)),
}


@pytest.mark.parametrize("name", list(NON_CONTIGUOUS_CALLS))
def test_non_contiguous_inputs_give_the_contiguous_result(name: str, device: torch.device) -> None:
    """Transposed and strided views give the same output as their contiguous copies."""
    fn, args = NON_CONTIGUOUS_CALLS[name](Builder(torch.float32, device))
    views = [arg for arg in args if isinstance(arg, Tensor)]
    assert any(not view.is_contiguous() for view in views), f"{name}: no argument is a non-contiguous view"
    copies = tuple(arg.contiguous() if isinstance(arg, Tensor) else arg for arg in args)
    torch.testing.assert_close(fn(*args), fn(*copies))


# ----- int32 and int64 ids, targets and positions -----

IntegerRun = Callable[[Builder, torch.dtype], Tensor]

INTEGER_INPUT_CALLS: dict[str, IntegerRun] = {
    "embedding-token_ids": lambda b, d: embedding(b.ids(2, 3, high=7, dtype=d), b.floats(7, 4)),
    "Embedding-token_ids": lambda b, d: b.module(Embedding, 7, 4)(b.ids(2, 3, high=7, dtype=d)),
    "TransformerLM-token_ids_and_positions": lambda b, d: b.module(TransformerLM, TINY)(
        b.ids(2, 5, dtype=d), b.positions(5, dtype=d)
    ),
    "TransformerLM-sinusoidal-positions": lambda b, d: b.module(TransformerLM, VARIANTS["sinusoidal"])(
        b.ids(2, 5, dtype=d), b.positions(5, dtype=d)
    ),
    "cross_entropy-targets": lambda b, d: cross_entropy(b.floats(2, 3, 7), b.ids(2, 3, high=7, dtype=d)),
    "rope-positions": lambda b, d: rope(b.floats(2, 5, 8), b.positions(5, dtype=d), 10000.0),
    "RotaryPositionalEmbedding-positions": lambda b, d: b.module(RotaryPositionalEmbedding, 10000.0, 8, 16)(
        b.floats(2, 5, 8), b.positions(5, dtype=d)
    ),
    "CausalMultiHeadSelfAttention-positions": lambda b, d: b.module(MHA, TINY)(
        b.floats(2, 5, 16), b.positions(5, dtype=d)
    ),
    "TransformerBlock-positions": lambda b, d: b.module(TransformerBlock, TINY)(
        b.floats(2, 5, 16), b.positions(5, dtype=d)
    ),
    "rope_angles-positions": lambda b, d: rope_angles(b.positions(5, dtype=d), 8, 10000.0),
    "sinusoidal_positions-positions": lambda b, d: sinusoidal_positions(b.positions(5, dtype=d), 8),
}


@pytest.mark.parametrize("name", list(INTEGER_INPUT_CALLS))
def test_int32_and_int64_integer_inputs_agree(name: str, device: torch.device) -> None:
    """SPEC §4: token ids, targets and positions may be int32 or int64, with identical results."""
    b = Builder(torch.float32, device)
    run = INTEGER_INPUT_CALLS[name]
    torch.testing.assert_close(run(b, torch.int32), run(b, torch.int64), rtol=0, atol=0)
