"""Bad input gets a clear error at the boundary, never a crash deep inside.

Laid out like PyTorch OpInfo's ``error_inputs``: one table of bad calls, each
with the exception type it must raise and a pattern its message must match
(the argument's name, the jaxtyping dimension binding, the violated bound),
and one parametrized test. Shape and dtype-kind errors are jaxtyping's
``TypeCheckError``; the rules annotations cannot express (one dtype, one
device, ids inside their range, context length, a module input's feature size)
are ``InputError``; a bad scalar (odd ``d_k``, ``theta <= 0``) is ``ValueError``;
state-dict problems are ``StateDictError`` naming the key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from jaxtyping import TypeCheckError
from torch import Tensor

from reference import (
    CausalMultiHeadSelfAttention,
    Embedding,
    InputError,
    Linear,
    RMSNorm,
    RotaryPositionalEmbedding,
    StateDictError,
    SwiGLU,
    TransformerBlock,
    TransformerConfig,
    TransformerLM,
    apply_rope_half,
    apply_rope_interleaved,
    checks,
    checks_enabled,
    convert_rope_layout,
    cross_entropy,
    embedding,
    linear,
    load_weights,
    multihead_self_attention,
    rmsnorm,
    rope,
    rope_angles,
    scaled_dot_product_attention,
    silu,
    sinusoidal_positions,
    softmax,
    softmax_with_temperature,
    swiglu,
    transformer_block,
    transformer_lm,
)
from reference.adapters import run_rope
from tests.builders import TINY, Builder

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

F32 = Builder(torch.float32)
F64 = Builder(torch.float64)
F16 = Builder(torch.float16)
META = Builder(torch.float32, device="meta")

f = F32.floats
ids = F32.ids
pos = F32.positions

Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    return fn, args, kwargs


def typecheck(where: str, parameter: str, *bindings: str, actual: str | None = None) -> str:
    """Pattern for jaxtyping's TypeCheckError message.

    The message names the checked function (``reference.<where>``), then the
    parameter, then its actual value (``f32[2,5]`` gives dtype and shape), and
    at the end each axis binding made so far on a line of its own (``d_in=5``).
    """
    pattern = rf"parameters of reference\.{re.escape(where)}\.$\s*The problem arose whilst typechecking "
    pattern += rf"parameter '{parameter}'"
    if actual is not None:
        pattern += rf"\.$\s*Actual value: {re.escape(actual)}(\(torch\))?$"
    return pattern + "".join(rf"(?=.*^{re.escape(binding)}$)" for binding in bindings)


# Where a TypeCheckError is raised: the checked function's module and qualified name.
SDPA = "scaled_dot_product_attention.scaled_dot_product_attention"
MHA_FORWARD = "multihead_self_attention.CausalMultiHeadSelfAttention.forward"
BLOCK_FORWARD = "transformer_block.TransformerBlock.forward"
LM_FORWARD = "transformer_lm.TransformerLM.forward"
CE = "cross_entropy.cross_entropy"
SINUSOIDAL = "sinusoidal.sinusoidal_positions"


@dataclass(frozen=True)
class ErrorInput:
    """``fn(*args, **kwargs)`` from ``make()`` must raise ``error`` with a message matching ``match``."""

    op: str
    bad: str
    make: Callable[[], Call]
    error: type[BaseException] | tuple[type[BaseException], ...]
    match: str

    @property
    def id(self) -> str:
        return f"{self.op}-{self.bad}"


def _lm(config: TransformerConfig = TINY) -> TransformerLM:
    return F32.module(TransformerLM, config)


def _partly_float64_lm() -> TransformerLM:
    model = _lm()
    model.lm_head.to(torch.float64)  # a half-converted model: every layer float32 but the head
    return model


def _state_dict(config: TransformerConfig = TINY) -> dict[str, Tensor]:
    return dict(_lm(config).state_dict())


def _without(weights: dict[str, Tensor], key: str) -> dict[str, Tensor]:
    return {name: value for name, value in weights.items() if name != key}


def _renamed(weights: dict[str, Tensor], old: str, new: str) -> dict[str, Tensor]:
    return {(new if name == old else name): value for name, value in weights.items()}


def _with(weights: dict[str, Tensor], key: str, value: object) -> dict[str, Tensor]:
    return {**weights, key: value}


def _untied_values_for_tied_model() -> Call:
    config = TINY.replace(tie_embeddings=True)
    weights = _state_dict(config)
    weights["lm_head.weight"] = weights["lm_head.weight"] + 1.0  # no longer equal to token_embeddings.weight
    return call(load_weights, _lm(config), weights)


def _cos_sin(seq: int, half_d: int, builder: Builder = F32) -> tuple[Tensor, Tensor]:
    angles = rope_angles(torch.arange(seq, device=builder.device), 2 * half_d, 10000.0)
    return angles.cos().to(builder.dtype), angles.sin().to(builder.dtype)


E = ErrorInput
T = TypeCheckError
MHA = CausalMultiHeadSelfAttention
LINEAR, RMS, SWI = "linear.linear", "rmsnorm.rmsnorm", "swiglu.swiglu"
I64 = torch.int64

ERROR_INPUTS: list[ErrorInput] = [
    # linear / Linear
    E(
        "linear",
        "x_rank_0",
        lambda: call(linear, torch.tensor(1.0), f(4, 3)),
        T,
        typecheck(LINEAR, "x", actual="f32[]"),
    ),
    E("linear", "weight_rank_3", lambda: call(linear, f(2, 3), f(4, 3, 1)), T, typecheck(LINEAR, "weight", "d_in=3")),
    E(
        "linear",
        "x_d_in_5_vs_weight_d_in_3",
        lambda: call(linear, f(2, 5), f(4, 3)),
        T,
        typecheck(LINEAR, "weight", "d_in=5", "d_out=4", actual="f32[4,3]"),
    ),
    E(
        "linear",
        "bias_5_vs_d_out_4",
        lambda: call(linear, f(2, 3), f(4, 3), f(5)),
        T,
        typecheck(LINEAR, "bias", "d_in=3", "d_out=4", actual="f32[5]"),
    ),
    E(
        "linear",
        "int64_x",
        lambda: call(linear, torch.ones(2, 3, dtype=I64), f(4, 3)),
        T,
        typecheck(LINEAR, "x", actual="i64[2,3]") + r".*Expected type: <class 'Float\[Tensor",
    ),
    E(
        "linear",
        "float64_x_float32_weight",
        lambda: call(linear, F64.floats(2, 3), f(4, 3)),
        InputError,
        r"^linear: floating-point tensors must share one dtype, got x is float64, weight is float32",
    ),
    E(
        "linear",
        "x_on_meta_weight_on_cpu",
        lambda: call(linear, META.floats(2, 3), f(4, 3)),
        InputError,
        r"^linear: tensors must be on one device, got x on meta, weight on cpu",
    ),
    E(
        "Linear",
        "x_d_in_5_vs_d_in_3",
        lambda: call(F32.module(Linear, 3, 4), f(2, 5)),
        InputError,
        r"^Linear: x has size 5 in its last dimension, but the module was built with d_in=3$",
    ),
    E(
        "Linear",
        "int64_x",
        lambda: call(F32.module(Linear, 3, 4), torch.ones(2, 3, dtype=I64)),
        T,
        typecheck("linear.Linear.forward", "x", actual="i64[2,3]"),
    ),
    E(
        "Linear",
        "float16_x_float32_module",
        lambda: call(F32.module(Linear, 3, 4), F16.floats(2, 3)),
        InputError,
        r"^Linear\.forward: floating-point tensors must share one dtype, got x is float16, "
        r"the module's \S+ is float32",
    ),
    E(
        "Linear",
        "x_on_meta_module_on_cpu",
        lambda: call(F32.module(Linear, 3, 4), META.floats(2, 3)),
        InputError,
        r"^Linear\.forward: tensors must be on one device, got x on meta, the module's \S+ on cpu$",
    ),
    # embedding / Embedding
    E(
        "embedding",
        "float_token_ids",
        lambda: call(embedding, torch.ones(3), f(7, 4)),
        T,
        typecheck("embedding.embedding", "token_ids", actual="f32[3]") + r".*Expected type: <class 'Int32Or64\[Tensor",
    ),
    E(
        "embedding",
        "weight_rank_1",
        lambda: call(embedding, ids(3, high=7), f(7)),
        T,
        typecheck("embedding.embedding", "weight", actual="f32[7]"),
    ),
    E(
        "embedding",
        "token_id_7_vocab_7",
        lambda: call(embedding, torch.tensor([0, 7, 2]), f(7, 4)),
        InputError,
        r"^embedding: token_ids contains 7, outside \[0, 7\) \(the vocabulary size\)",
    ),
    E(
        "embedding",
        "negative_token_id",
        lambda: call(embedding, torch.tensor([0, -1]), f(7, 4)),
        InputError,
        r"^embedding: token_ids contains -1, outside \[0, 7\)",
    ),
    E(
        "embedding",
        "token_ids_on_meta_weight_on_cpu",
        lambda: call(embedding, ids(3, high=7).to("meta"), f(7, 4)),
        InputError,
        r"^embedding: .*token_ids on meta, weight on cpu",
    ),
    E(
        "Embedding",
        "float_token_ids",
        lambda: call(F32.module(Embedding, 7, 4), torch.ones(3)),
        T,
        typecheck("embedding.Embedding.forward", "token_ids", actual="f32[3]"),
    ),
    E(
        "Embedding",
        "token_id_7_vocab_7",
        lambda: call(F32.module(Embedding, 7, 4), torch.tensor([[1, 7]])),
        InputError,
        r"^embedding: token_ids contains 7, outside \[0, 7\) \(the vocabulary size\)",
    ),
    E(
        "Embedding",
        "token_ids_on_meta_module_on_cpu",
        lambda: call(F32.module(Embedding, 7, 4), ids(3, high=7).to("meta")),
        InputError,
        r"^Embedding\.forward: tensors must be on one device, "
        r"got token_ids on meta, the module's \S+ on cpu$",
    ),
    # rmsnorm / RMSNorm
    E(
        "rmsnorm",
        "x_d_model_5_vs_weight_4",
        lambda: call(rmsnorm, f(2, 5), f(4)),
        T,
        typecheck(RMS, "weight", "d_model=5", actual="f32[4]"),
    ),
    E("rmsnorm", "weight_rank_2", lambda: call(rmsnorm, f(2, 4), f(1, 4)), T, typecheck(RMS, "weight", "d_model=4")),
    E(
        "rmsnorm",
        "int64_x",
        lambda: call(rmsnorm, torch.ones(2, 4, dtype=I64), f(4)),
        T,
        typecheck(RMS, "x", actual="i64[2,4]"),
    ),
    E(
        "rmsnorm",
        "float16_x_float32_weight",
        lambda: call(rmsnorm, F16.floats(2, 4), f(4)),
        InputError,
        r"^rmsnorm: .*x is float16, weight is float32",
    ),
    E(
        "rmsnorm",
        "x_on_meta_weight_on_cpu",
        lambda: call(rmsnorm, META.floats(2, 4), f(4)),
        InputError,
        r"^rmsnorm: .*x on meta, weight on cpu",
    ),
    E(
        "RMSNorm",
        "x_d_model_5_vs_4",
        lambda: call(F32.module(RMSNorm, 4), f(2, 5)),
        InputError,
        r"^RMSNorm: x has size 5 in its last dimension, but the module was built with d_model=4$",
    ),
    E(
        "RMSNorm",
        "int64_x",
        lambda: call(F32.module(RMSNorm, 4), torch.ones(2, 4, dtype=I64)),
        T,
        typecheck("rmsnorm.RMSNorm.forward", "x", actual="i64[2,4]"),
    ),
    E(
        "RMSNorm",
        "bfloat16_x_float32_module",
        lambda: call(F32.module(RMSNorm, 4), Builder(torch.bfloat16).floats(2, 4)),
        InputError,
        r"^RMSNorm\.forward: .*one dtype, got x is bfloat16, the module's \S+ is float32",
    ),
    E(
        "RMSNorm",
        "x_on_meta_module_on_cpu",
        lambda: call(F32.module(RMSNorm, 4), META.floats(2, 4)),
        InputError,
        r"^RMSNorm\.forward: .*one device, got x on meta, the module's \S+ on cpu$",
    ),
    # silu / swiglu / SwiGLU
    E(
        "silu",
        "int64_x",
        lambda: call(silu, torch.ones(3, dtype=I64)),
        T,
        typecheck("swiglu.silu", "x", actual="i64[3]"),
    ),
    E(
        "silu",
        "bool_x",
        lambda: call(silu, torch.ones(3, dtype=torch.bool)),
        T,
        typecheck("swiglu.silu", "x", actual="bool[3]"),
    ),
    E(
        "swiglu",
        "w2_d_ff_7_vs_8",
        lambda: call(swiglu, f(2, 4), f(8, 4), f(4, 7), f(8, 4)),
        T,
        typecheck(SWI, "w2", "d_model=4", "d_ff=8", actual="f32[4,7]"),
    ),
    E(
        "swiglu",
        "x_d_model_5_vs_4",
        lambda: call(swiglu, f(2, 5), f(8, 4), f(4, 8), f(8, 4)),
        T,
        typecheck(SWI, "w1", "d_model=5", actual="f32[8,4]"),
    ),
    E(
        "swiglu",
        "int64_x",
        lambda: call(swiglu, torch.ones(2, 4, dtype=I64), f(8, 4), f(4, 8), f(8, 4)),
        T,
        typecheck(SWI, "x", actual="i64[2,4]"),
    ),
    E(
        "swiglu",
        "float16_w2",
        lambda: call(swiglu, f(2, 4), f(8, 4), F16.floats(4, 8), f(8, 4)),
        InputError,
        r"^swiglu: .*x is float32, w1 is float32, w2 is float16",
    ),
    E(
        "swiglu",
        "w3_on_meta",
        lambda: call(swiglu, f(2, 4), f(8, 4), f(4, 8), META.floats(8, 4)),
        InputError,
        r"^swiglu: .*x on cpu, .*w3 on meta",
    ),
    E(
        "SwiGLU",
        "x_d_model_5_vs_4",
        lambda: call(F32.module(SwiGLU, 4, 8), f(2, 5)),
        InputError,
        r"^SwiGLU: x has size 5 in its last dimension, but the module was built with d_model=4$",
    ),
    E(
        "SwiGLU",
        "int64_x",
        lambda: call(F32.module(SwiGLU, 4, 8), torch.ones(2, 4, dtype=I64)),
        T,
        typecheck("swiglu.SwiGLU.forward", "x", actual="i64[2,4]"),
    ),
    E(
        "SwiGLU",
        "float64_x_float32_module",
        lambda: call(F32.module(SwiGLU, 4, 8), F64.floats(2, 4)),
        InputError,
        r"^SwiGLU\.forward: .*one dtype, got x is float64, the module's \S+ is float32",
    ),
    E(
        "SwiGLU",
        "x_on_meta_module_on_cpu",
        lambda: call(F32.module(SwiGLU, 4, 8), META.floats(2, 4)),
        InputError,
        r"^SwiGLU\.forward: .*one device, got x on meta, the module's \S+ on cpu$",
    ),
    # rope_angles / rope / apply_rope_* / RotaryPositionalEmbedding
    E(
        "rope_angles",
        "float_positions",
        lambda: call(rope_angles, torch.arange(3.0), 4, 10000.0),
        T,
        typecheck("rope.rope_angles", "token_positions", actual="f32[3]"),
    ),
    E(
        "rope_angles",
        "positions_rank_0",
        lambda: call(rope_angles, torch.tensor(3), 4, 10000.0),
        T,
        typecheck("rope.rope_angles", "token_positions", actual="i64[]"),
    ),
    E(
        "rope_angles",
        "odd_d_k_5",
        lambda: call(rope_angles, pos(3), 5, 10000.0),
        ValueError,
        r"^rope_angles: RoPE rotates pairs of features, so d_k must be even, got 5$",
    ),
    *(
        E(
            "rope_angles",
            f"theta_{theta}",
            lambda theta=theta: call(rope_angles, pos(3), 4, theta),
            ValueError,
            rf"^rope_angles: theta must be > 0, got {theta}$",
        )
        for theta in (0.0, -1.0, float("nan"))
    ),
    E("rope", "x_rank_1", lambda: call(rope, f(4), pos(1), 10000.0), T, typecheck("rope.rope", "x", actual="f32[4]")),
    E(
        "rope",
        "int64_x",
        lambda: call(rope, torch.ones(3, 4, dtype=I64), pos(3), 10000.0),
        T,
        typecheck("rope.rope", "x", actual="i64[3,4]"),
    ),
    E(
        "rope",
        "float_positions",
        lambda: call(rope, f(3, 4), torch.arange(3.0), 10000.0),
        T,
        typecheck("rope.rope", "token_positions", actual="f32[3]") + r".*Expected type: <class 'Int32Or64\[Tensor",
    ),
    E(
        "rope",
        "positions_seq_4_vs_x_seq_3",
        lambda: call(rope, f(3, 4), pos(4), 10000.0),
        T,
        typecheck("rope.rope", "token_positions", "seq=3", "d_k=4", actual="i64[4]"),
    ),
    E(
        "rope",
        "odd_d_k_5",
        lambda: call(rope, f(3, 5), pos(3), 10000.0),
        ValueError,
        r"^rope_angles: RoPE rotates pairs of features, so d_k must be even, got 5$",
    ),
    E(
        "rope",
        "unknown_layout",
        lambda: call(rope, f(3, 4), pos(3), 10000.0, "rotate_half"),
        T,
        typecheck("rope.rope", "layout", actual="'rotate_half'") + r".*Literal\['interleaved', 'half'\]",
    ),
    E(
        "rope",
        "x_on_cpu_positions_on_meta",
        lambda: call(rope, f(3, 4), pos(3).to("meta"), 10000.0),
        InputError,
        r"^rope: tensors must be on one device, got x on cpu, token_positions on meta",
    ),
    E(
        "apply_rope_interleaved",
        "sin_half_d_3_vs_cos_2",
        lambda: call(apply_rope_interleaved, f(3, 4), f(3, 2), f(3, 3)),
        T,
        typecheck("rope.apply_rope_interleaved", "sin", "d_k=4", "seq=3", actual="f32[3,3]")
        + r".*Expected type: .*d_k//2",
    ),
    E(
        "apply_rope_interleaved",
        "int64_x",
        lambda: call(apply_rope_interleaved, torch.ones(3, 4, dtype=I64), *_cos_sin(3, 2)),
        T,
        typecheck("rope.apply_rope_interleaved", "x", actual="i64[3,4]"),
    ),
    E(
        "apply_rope_interleaved",
        "float32_x_float64_cos_sin",
        lambda: call(apply_rope_interleaved, f(3, 4), *_cos_sin(3, 2, F64)),
        InputError,
        r"^apply_rope_interleaved: .*x is float32, cos is float64, sin is float64",
    ),
    E(
        "apply_rope_interleaved",
        "x_on_meta_cos_sin_on_cpu",
        lambda: call(apply_rope_interleaved, META.floats(3, 4), *_cos_sin(3, 2)),
        InputError,
        r"^apply_rope_interleaved: .*x on meta, cos on cpu, sin on cpu",
    ),
    E(
        "apply_rope_interleaved",
        "cos_half_d_2_vs_d_k_6",
        lambda: call(apply_rope_interleaved, f(3, 6), *_cos_sin(3, 2)),
        T,
        typecheck("rope.apply_rope_interleaved", "cos", "d_k=6", "seq=3", actual="f32[3,2]")
        + r".*Expected type: .*d_k//2",
    ),
    *(
        E(
            fn.__name__,
            "odd_d_k_5",
            lambda fn=fn: call(fn, f(3, 5), *_cos_sin(3, 2)),
            ValueError,
            rf"^{fn.__name__}: RoPE rotates pairs of features, so d_k must be even, got 5$",
        )
        for fn in (apply_rope_interleaved, apply_rope_half)
    ),
    E(
        "apply_rope_half",
        "sin_half_d_3_vs_cos_2",
        lambda: call(apply_rope_half, f(3, 4), f(3, 2), f(3, 3)),
        T,
        typecheck("rope.apply_rope_half", "sin", "d_k=4", "seq=3", actual="f32[3,3]") + r".*Expected type: .*d_k//2",
    ),
    E(
        "apply_rope_half",
        "float16_x_float32_cos_sin",
        lambda: call(apply_rope_half, F16.floats(3, 4), *_cos_sin(3, 2)),
        InputError,
        r"^apply_rope_half: .*x is float16, cos is float32, sin is float32",
    ),
    E(
        "apply_rope_half",
        "x_on_meta_cos_sin_on_cpu",
        lambda: call(apply_rope_half, META.floats(3, 4), *_cos_sin(3, 2)),
        InputError,
        r"^apply_rope_half: .*x on meta, cos on cpu, sin on cpu",
    ),
    E(
        "apply_rope_half",
        "cos_half_d_2_vs_d_k_6",
        lambda: call(apply_rope_half, f(3, 6), *_cos_sin(3, 2)),
        T,
        typecheck("rope.apply_rope_half", "cos", "d_k=6", "seq=3", actual="f32[3,2]") + r".*Expected type: .*d_k//2",
    ),
    E(
        "RotaryPositionalEmbedding",
        "position_8_max_seq_len_8",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 4), torch.tensor([0, 1, 8])),
        InputError,
        r"^RotaryPositionalEmbedding: token_positions contains 8, outside \[0, 8\) \(max_seq_len\)",
    ),
    E(
        "RotaryPositionalEmbedding",
        "negative_position",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 4), torch.tensor([0, -1, 2])),
        InputError,
        r"^RotaryPositionalEmbedding: token_positions contains -1, outside \[0, 8\)",
    ),
    E(
        "RotaryPositionalEmbedding",
        "float_positions",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 4), torch.arange(3.0)),
        T,
        typecheck("rope.RotaryPositionalEmbedding.forward", "token_positions", actual="f32[3]"),
    ),
    E(
        "RotaryPositionalEmbedding",
        "positions_seq_4_vs_x_seq_3",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 4), pos(4)),
        T,
        typecheck("rope.RotaryPositionalEmbedding.forward", "token_positions", "seq=3", actual="i64[4]"),
    ),
    E(
        "RotaryPositionalEmbedding",
        "int64_x",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), torch.ones(3, 4, dtype=I64), pos(3)),
        T,
        typecheck("rope.RotaryPositionalEmbedding.forward", "x", actual="i64[3,4]"),
    ),
    E(
        "RotaryPositionalEmbedding",
        "x_on_cpu_positions_on_meta",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 4), pos(3).to("meta")),
        InputError,
        r"^RotaryPositionalEmbedding\.forward: .*x on cpu, token_positions on meta",
    ),
    E(
        "RotaryPositionalEmbedding",
        "inputs_on_meta_module_on_cpu",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), META.floats(3, 4), pos(3).to("meta")),
        InputError,
        r"^RotaryPositionalEmbedding\.forward: tensors must be on one device, got x on meta, token_positions on meta, "
        r"the module's buffers on cpu$",
    ),
    E(
        "RotaryPositionalEmbedding",
        "x_d_k_6_vs_module_d_k_4",
        lambda: call(RotaryPositionalEmbedding(10000.0, 4, 8), f(3, 6), pos(3)),
        InputError,
        r"^RotaryPositionalEmbedding: x has size 6 in its last dimension, but the module was built with d_k=4$",
    ),
    E(
        "RotaryPositionalEmbedding",
        "theta_0",
        lambda: call(RotaryPositionalEmbedding, 0.0, 4, 8),
        ValueError,
        r"^rope_angles: theta must be > 0, got 0\.0$",
    ),
    # softmax / softmax_with_temperature
    E(
        "softmax",
        "int64_x",
        lambda: call(softmax, torch.ones(3, dtype=I64)),
        T,
        typecheck("softmax.softmax", "x", actual="i64[3]"),
    ),
    E(
        "softmax",
        "dim_2_of_rank_1",
        lambda: call(softmax, f(3), dim=2),
        IndexError,
        r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 2\)",
    ),
    E(
        "softmax_with_temperature",
        "int64_logits",
        lambda: call(softmax_with_temperature, torch.ones(3, dtype=I64), 1.0),
        T,
        typecheck("softmax.softmax_with_temperature", "logits", actual="i64[3]"),
    ),
    *(
        E(
            "softmax_with_temperature",
            f"temperature_{temperature}",
            lambda temperature=temperature: call(softmax_with_temperature, f(3), temperature),
            ValueError,
            rf"^softmax_with_temperature: temperature must be > 0, got {temperature}$",
        )
        for temperature in (0.0, -1.0, float("nan"))
    ),
    # scaled_dot_product_attention
    E(
        "scaled_dot_product_attention",
        "Q_rank_1",
        lambda: call(scaled_dot_product_attention, f(4), f(5, 4), f(5, 4)),
        T,
        typecheck(SDPA, "Q", actual="f32[4]"),
    ),
    E(
        "scaled_dot_product_attention",
        "K_d_k_3_vs_Q_d_k_4",
        lambda: call(scaled_dot_product_attention, f(2, 3, 4), f(2, 5, 3), f(2, 5, 4)),
        T,
        typecheck(SDPA, "K", "d_k=4", "n=3", actual="f32[2,5,3]"),
    ),
    E(
        "scaled_dot_product_attention",
        "V_m_6_vs_K_m_5",
        lambda: call(scaled_dot_product_attention, f(2, 3, 4), f(2, 5, 4), f(2, 6, 4)),
        T,
        typecheck(SDPA, "V", "m=5", "d_k=4", actual="f32[2,6,4]"),
    ),
    E(
        "scaled_dot_product_attention",
        "K_batch_3_vs_Q_batch_2",
        lambda: call(scaled_dot_product_attention, f(2, 3, 4), f(3, 5, 4), f(3, 5, 4)),
        T,
        typecheck(SDPA, "K", actual="f32[3,5,4]"),
    ),
    E(
        "scaled_dot_product_attention",
        "float_mask",
        lambda: call(scaled_dot_product_attention, f(3, 4), f(5, 4), f(5, 4), torch.ones(3, 5)),
        T,
        typecheck(SDPA, "mask", "n=3", "m=5", actual="f32[3,5]") + r".*Bool\[Tensor",
    ),
    E(
        "scaled_dot_product_attention",
        "mask_m_4_vs_m_5",
        lambda: call(scaled_dot_product_attention, f(3, 4), f(5, 4), f(5, 4), torch.ones(3, 4, dtype=torch.bool)),
        T,
        typecheck(SDPA, "mask", "m=5", "n=3", actual="bool[3,4]"),
    ),
    E(
        "scaled_dot_product_attention",
        "int64_Q",
        lambda: call(scaled_dot_product_attention, torch.ones(3, 4, dtype=I64), f(5, 4), f(5, 4)),
        T,
        typecheck(SDPA, "Q", actual="i64[3,4]"),
    ),
    E(
        "scaled_dot_product_attention",
        "float64_K",
        lambda: call(scaled_dot_product_attention, f(3, 4), F64.floats(5, 4), f(5, 4)),
        InputError,
        r"^scaled_dot_product_attention: .*Q is float32, K is float64, V is float32",
    ),
    E(
        "scaled_dot_product_attention",
        "K_on_meta",
        lambda: call(scaled_dot_product_attention, f(3, 4), META.floats(5, 4), f(5, 4)),
        InputError,
        r"^scaled_dot_product_attention: .*Q on cpu, K on meta, V on cpu",
    ),
    # CausalMultiHeadSelfAttention
    E(
        "CausalMultiHeadSelfAttention",
        "x_rank_1",
        lambda: call(F32.module(MHA, TINY), f(16)),
        T,
        typecheck(MHA_FORWARD, "x", actual="f32[16]"),
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "x_d_model_6_vs_16",
        lambda: call(F32.module(MHA, TINY), f(2, 4, 6)),
        InputError,
        r"^CausalMultiHeadSelfAttention: x has size 6 in its last dimension, but the module was built with d_model=16$",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "int64_x",
        lambda: call(F32.module(MHA, TINY), torch.ones(2, 4, 16, dtype=I64)),
        T,
        typecheck(MHA_FORWARD, "x", actual="i64[2,4,16]"),
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "float_positions",
        lambda: call(F32.module(MHA, TINY), f(2, 4, 16), torch.arange(4.0)),
        T,
        typecheck(MHA_FORWARD, "token_positions", actual="f32[4]") + r".*Int32Or64\[Tensor",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "positions_seq_5_vs_x_seq_4",
        lambda: call(F32.module(MHA, TINY), f(2, 4, 16), pos(5)),
        T,
        typecheck(MHA_FORWARD, "token_positions", "seq=4", "d_model=16", actual="i64[5]"),
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "position_8_context_length_8",
        lambda: call(F32.module(MHA, TINY), f(2, 4, 16), torch.tensor([0, 1, 2, 8])),
        InputError,
        r"^RotaryPositionalEmbedding: token_positions contains 8, outside \[0, 8\) \(max_seq_len\)",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "seq_9_longer_than_context_length_8",
        lambda: call(F32.module(MHA, TINY), f(1, 9, 16)),
        InputError,
        r"^CausalMultiHeadSelfAttention: x has 9 positions, more than max_seq_len 8 of its RoPE cache$",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "float64_x_float32_module",
        lambda: call(F32.module(MHA, TINY), F64.floats(2, 4, 16)),
        InputError,
        r"^CausalMultiHeadSelfAttention\.forward: .*one dtype, got x is float64, the module's \S+ is float32",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "float16_x_float32_module",
        lambda: call(F32.module(MHA, TINY), F16.floats(2, 4, 16)),
        InputError,
        r"^CausalMultiHeadSelfAttention\.forward: .*one dtype, got x is float16, the module's \S+ is float32",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "x_on_meta_module_on_cpu",
        lambda: call(F32.module(MHA, TINY), META.floats(2, 4, 16)),
        InputError,
        r"^CausalMultiHeadSelfAttention\.forward: .*one device, got x on meta, the module's \S+ on cpu$",
    ),
    E(
        "CausalMultiHeadSelfAttention",
        "x_on_cpu_positions_on_meta",
        lambda: call(F32.module(MHA, TINY), f(2, 4, 16), pos(4).to("meta")),
        InputError,
        r"^CausalMultiHeadSelfAttention\.forward: .*x on cpu, token_positions on meta",
    ),
    # TransformerBlock
    E(
        "TransformerBlock",
        "x_rank_1",
        lambda: call(F32.module(TransformerBlock, TINY), f(16)),
        T,
        typecheck(BLOCK_FORWARD, "x", actual="f32[16]"),
    ),
    E(
        "TransformerBlock",
        "x_d_model_6_vs_16",
        lambda: call(F32.module(TransformerBlock, TINY), f(2, 4, 6)),
        InputError,
        r"^TransformerBlock: x has size 6 in its last dimension, but the module was built with d_model=16$",
    ),
    E(
        "TransformerBlock",
        "int64_x",
        lambda: call(F32.module(TransformerBlock, TINY), torch.ones(2, 4, 16, dtype=I64)),
        T,
        typecheck(BLOCK_FORWARD, "x", actual="i64[2,4,16]"),
    ),
    E(
        "TransformerBlock",
        "position_8_context_length_8",
        lambda: call(F32.module(TransformerBlock, TINY), f(2, 4, 16), torch.tensor([0, 1, 2, 8])),
        InputError,
        r"^RotaryPositionalEmbedding: token_positions contains 8, outside \[0, 8\) \(max_seq_len\)",
    ),
    E(
        "TransformerBlock",
        "float16_x_float32_module",
        lambda: call(F32.module(TransformerBlock, TINY), F16.floats(2, 4, 16)),
        InputError,
        r"^TransformerBlock\.forward: .*one dtype, got x is float16, the module's \S+ is float32",
    ),
    E(
        "TransformerBlock",
        "x_on_meta_module_on_cpu",
        lambda: call(F32.module(TransformerBlock, TINY), META.floats(2, 4, 16)),
        InputError,
        r"^TransformerBlock\.forward: .*one device, got x on meta, the module's \S+ on cpu$",
    ),
    # TransformerLM
    E(
        "TransformerLM",
        "float_token_ids",
        lambda: call(_lm(), torch.ones(2, 4)),
        T,
        typecheck(LM_FORWARD, "token_ids", actual="f32[2,4]") + r".*Int32Or64\[Tensor",
    ),
    E(
        "TransformerLM",
        "token_ids_rank_0",
        lambda: call(_lm(), torch.tensor(1)),
        T,
        typecheck(LM_FORWARD, "token_ids", actual="i64[]"),
    ),
    E(
        "TransformerLM",
        "token_id_13_vocab_13",
        lambda: call(_lm(), torch.tensor([[0, 13, 2]])),
        InputError,
        r"^embedding: token_ids contains 13, outside \[0, 13\) \(the vocabulary size\)",
    ),
    E(
        "TransformerLM",
        "negative_token_id",
        lambda: call(_lm(), torch.tensor([[0, -1]])),
        InputError,
        r"^embedding: token_ids contains -1, outside \[0, 13\)",
    ),
    E(
        "TransformerLM",
        "seq_9_longer_than_context_length_8",
        lambda: call(_lm(), ids(1, 9)),
        InputError,
        r"^TransformerLM: token_ids has 9 positions, more than context_length 8$",
    ),
    E(
        "TransformerLM",
        "sinusoidal_seq_9_longer_than_context_length_8",
        lambda: call(_lm(TINY.replace(position_encoding="sinusoidal")), ids(1, 9)),
        InputError,
        r"^TransformerLM: token_ids has 9 positions, more than context_length 8$",
    ),
    E(
        "TransformerLM",
        "position_8_context_length_8",
        lambda: call(_lm(), ids(1, 3), torch.tensor([0, 1, 8])),
        InputError,
        r"^RotaryPositionalEmbedding: token_positions contains 8, outside \[0, 8\)",
    ),
    E(
        "TransformerLM",
        "float_positions",
        lambda: call(_lm(), ids(1, 3), torch.arange(3.0)),
        T,
        typecheck(LM_FORWARD, "token_positions", actual="f32[3]"),
    ),
    E(
        "TransformerLM",
        "positions_seq_4_vs_token_ids_seq_3",
        lambda: call(_lm(), ids(1, 3), pos(4)),
        T,
        typecheck(LM_FORWARD, "token_positions", "seq=3", actual="i64[4]"),
    ),
    E(
        "TransformerLM",
        "lm_head_float64_rest_float32",
        lambda: call(_partly_float64_lm(), ids(1, 3)),
        InputError,
        r"^TransformerLM\.forward: floating-point tensors must share one dtype, got "
        r"the module.s token_embeddings\.weight is float32, the module.s lm_head\.weight is float64",
    ),
    E(
        "TransformerLM",
        "token_ids_on_meta_module_on_cpu",
        lambda: call(_lm(), ids(1, 3).to("meta")),
        InputError,
        r"^TransformerLM\.forward: .*one device, got token_ids on meta, the module's \S+ on cpu$",
    ),
    E(
        "TransformerLM",
        "token_ids_on_cpu_positions_on_meta",
        lambda: call(_lm(), ids(1, 3), pos(3).to("meta")),
        InputError,
        r"^TransformerLM\.forward: .*token_ids on cpu, token_positions on meta",
    ),
    # cross_entropy
    E(
        "cross_entropy",
        "logits_rank_0",
        lambda: call(cross_entropy, torch.tensor(1.0), torch.tensor(0)),
        T,
        typecheck(CE, "logits", actual="f32[]"),
    ),
    E(
        "cross_entropy",
        "int64_logits",
        lambda: call(cross_entropy, torch.ones(2, 5, dtype=I64), torch.tensor([0, 1])),
        T,
        typecheck(CE, "logits", actual="i64[2,5]") + r".*Float\[Tensor",
    ),
    E(
        "cross_entropy",
        "float_targets",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([0.0, 1.0])),
        T,
        typecheck(CE, "targets", "vocab=5", actual="f32[2]") + r".*Int32Or64\[Tensor",
    ),
    E(
        "cross_entropy",
        "targets_3_vs_batch_2",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([0, 1, 2])),
        T,
        typecheck(CE, "targets", "vocab=5", actual="i64[3]"),
    ),
    E(
        "cross_entropy",
        "targets_rank_2_vs_batch_rank_1",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([[0, 1]])),
        T,
        typecheck(CE, "targets", "vocab=5", actual="i64[1,2]"),
    ),
    E(
        "cross_entropy",
        "target_5_vocab_5",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([0, 5])),
        InputError,
        r"^cross_entropy: targets contains 5, outside \[0, 5\) \(the vocabulary size\)",
    ),
    E(
        "cross_entropy",
        "negative_target",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([-1, 0])),
        InputError,
        r"^cross_entropy: targets contains -1, outside \[0, 5\)",
    ),
    E(
        "cross_entropy",
        "logits_on_cpu_targets_on_meta",
        lambda: call(cross_entropy, f(2, 5), torch.tensor([0, 1], device="meta")),
        InputError,
        r"^cross_entropy: .*logits on cpu, targets on meta",
    ),
    # sinusoidal_positions
    E(
        "sinusoidal_positions",
        "float_positions",
        lambda: call(sinusoidal_positions, torch.arange(3.0), 4),
        T,
        typecheck(SINUSOIDAL, "token_positions", actual="f32[3]") + r".*Int32Or64\[Tensor",
    ),
    E(
        "sinusoidal_positions",
        "positions_rank_0",
        lambda: call(sinusoidal_positions, torch.tensor(3), 4),
        T,
        typecheck(SINUSOIDAL, "token_positions", actual="i64[]"),
    ),
    E(
        "sinusoidal_positions",
        "odd_d_model_5",
        lambda: call(sinusoidal_positions, pos(3), 5),
        ValueError,
        r"^sinusoidal_positions: d_model must be even, got 5$",
    ),
    *(
        E(
            "sinusoidal_positions",
            f"base_{base}",
            lambda base=base: call(sinusoidal_positions, pos(3), 4, base),
            ValueError,
            rf"^sinusoidal_positions: base must be > 0, got {base}$",
        )
        for base in (0.0, -1.0, float("nan"))
    ),
    # load_weights
    E(
        "load_weights",
        "missing_key",
        lambda: call(load_weights, _lm(), _without(_state_dict(), "ln_final.weight")),
        StateDictError,
        r"does not fit TransformerLM: missing key 'ln_final\.weight' \(expected shape \(16,\)\)",
    ),
    E(
        "load_weights",
        "misspelt_key",
        lambda: call(load_weights, _lm(), _renamed(_state_dict(), "layers.0.ln1.weight", "layers.0.ln_1.weight")),
        StateDictError,
        r"missing key 'layers\.0\.ln1\.weight'.*"
        r"unexpected key 'layers\.0\.ln_1\.weight' \(did you mean 'layers\.0\.ln1\.weight'\?\)",
    ),
    E(
        "load_weights",
        "extra_key",
        lambda: call(load_weights, _lm(), _with(_state_dict(), "lm_head.bias", torch.zeros(13))),
        StateDictError,
        r"unexpected key 'lm_head\.bias' \(did you mean 'lm_head\.weight'\?\)",
    ),
    E(
        "load_weights",
        "misshaped_key",
        lambda: call(load_weights, _lm(), _with(_state_dict(), "layers.0.attn.k_proj.weight", torch.zeros(8, 16))),
        StateDictError,
        r"key 'layers\.0\.attn\.k_proj\.weight' has shape \(8, 16\), expected \(16, 16\)",
    ),
    E(
        "load_weights",
        "non_tensor_value",
        lambda: call(load_weights, _lm(), _with(_state_dict(), "ln_final.weight", [1.0] * 16)),
        StateDictError,
        r"key 'ln_final\.weight' holds a list, not a tensor",
    ),
    E(
        "load_weights",
        "list_of_pairs_not_a_mapping",
        lambda: call(load_weights, _lm(), list(_state_dict().items())),
        TypeError,
        r"^load_weights: weights must be a mapping of key to tensor, got list$",
    ),
    E(
        "load_weights",
        "tied_keys_with_different_values",
        _untied_values_for_tied_model,
        StateDictError,
        r"^state dict does not fit TransformerLM: .*(?=.*'lm_head\.weight')(?=.*'token_embeddings\.weight').*tied",
    ),
    # convert_rope_layout
    E(
        "convert_rope_layout",
        "rows_6_not_multiple_of_head_dim_4",
        lambda: call(convert_rope_layout, f(6, 3), 4, "interleaved", "half"),
        ValueError,
        r"first dimension 6 is not a multiple of head_dim 4",
    ),
    E(
        "convert_rope_layout",
        "unknown_source_layout",
        lambda: call(convert_rope_layout, f(8, 3), 4, "rotate_half", "half"),
        ValueError,
        r"source must be one of \('interleaved', 'half'\), got 'rotate_half'",
    ),
    E(
        "convert_rope_layout",
        "unknown_target_layout",
        lambda: call(convert_rope_layout, f(8, 3), 4, "half", "neox"),
        ValueError,
        r"target must be one of \('interleaved', 'half'\), got 'neox'",
    ),
    E(
        "convert_rope_layout",
        "tensor_rank_0",
        lambda: call(convert_rope_layout, torch.tensor(1.0), 4, "interleaved", "half"),
        ValueError,
        r"^convert_rope_layout: tensor must have at least one dimension .*got a scalar$",
    ),
    E(
        "convert_rope_layout",
        "head_dim_0",
        lambda: call(convert_rope_layout, f(8, 3), 0, "interleaved", "half"),
        ValueError,
        r"^convert_rope_layout: head_dim must be a positive even integer, got 0$",
    ),
    E(
        "convert_rope_layout",
        "odd_head_dim_3",
        lambda: call(convert_rope_layout, f(6, 3), 3, "interleaved", "half"),
        ValueError,
        r"^convert_rope_layout: head_dim must be a positive even integer, got 3$",
    ),
    # function forms of the stateful components: weights arrive as a state dict
    E(
        "multihead_self_attention",
        "missing_key",
        lambda: call(
            multihead_self_attention,
            f(2, 4, 16),
            _without(dict(F32.module(CausalMultiHeadSelfAttention, TINY).state_dict()), "v_proj.weight"),
            TINY,
        ),
        StateDictError,
        r"does not fit CausalMultiHeadSelfAttention: missing key 'v_proj\.weight' \(expected shape \(16, 16\)\)",
    ),
    E(
        "transformer_block",
        "x_d_model_8_vs_16",
        lambda: call(transformer_block, f(2, 4, 8), dict(F32.module(TransformerBlock, TINY).state_dict()), TINY),
        InputError,
        r"^TransformerBlock: x has size 8 in its last dimension, but the module was built with d_model=16$",
    ),
    E(
        "transformer_lm",
        "float_token_ids",
        lambda: call(transformer_lm, f(2, 4), _state_dict(), TINY),
        TypeCheckError,
        typecheck("transformer_lm.transformer_lm", "token_ids", actual="f32[2,4]"),
    ),
]


@pytest.fixture(autouse=True)
def _checks_on() -> Iterator[None]:
    """These tests are about the checks, so they hold whatever the environment says (REFERENCE_CHECKS)."""
    with checks(True):
        yield


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in ERROR_INPUTS])
def test_bad_input_raises_a_clear_error(case: ErrorInput) -> None:
    """A bad call raises the documented exception, and its message names the argument and the broken rule."""
    fn, args, kwargs = case.make()
    with pytest.raises(case.error) as raised:
        fn(*args, **kwargs)
    message = str(raised.value)
    assert re.search(case.match, message, re.DOTALL | re.MULTILINE), (
        f"{case.id}: {type(raised.value).__name__} message does not match {case.match!r}:\n{message}"
    )


def test_every_public_callable_has_error_inputs() -> None:
    """The table covers every public function and module forward the brief lists, so none is forgotten."""
    covered = {case.op for case in ERROR_INPUTS}
    expected = {
        "linear",
        "Linear",
        "embedding",
        "Embedding",
        "rmsnorm",
        "RMSNorm",
        "silu",
        "swiglu",
        "SwiGLU",
        "rope",
        "RotaryPositionalEmbedding",
        "apply_rope_interleaved",
        "apply_rope_half",
        "rope_angles",
        "softmax",
        "softmax_with_temperature",
        "scaled_dot_product_attention",
        "CausalMultiHeadSelfAttention",
        "TransformerBlock",
        "TransformerLM",
        "cross_entropy",
        "sinusoidal_positions",
        "load_weights",
        "convert_rope_layout",
    }
    assert expected <= covered, f"no error inputs for {sorted(expected - covered)}"
    assert len({case.id for case in ERROR_INPUTS}) == len(ERROR_INPUTS), "duplicate error-input ids"


# Integer ids narrower than int32. SPEC §4 promises int32 and int64 (the ``Int32Or64`` annotation): torch would
# read a uint8 index as a boolean mask and reject an int16 one deep inside, so both are refused by name.
NARROW_ID_CALLS: dict[str, tuple[Callable[[Tensor], object], Callable[[], Tensor], str, str]] = {
    "embedding": (lambda i: embedding(i, f(13, 4)), lambda: ids(13), "embedding.embedding", "token_ids"),
    "Embedding": (
        lambda i: F32.module(Embedding, 13, 4)(i),
        lambda: ids(13),
        "embedding.Embedding.forward",
        "token_ids",
    ),
    "TransformerLM-token_ids": (lambda i: _lm()(i), lambda: ids(2, 5), LM_FORWARD, "token_ids"),
    "TransformerLM-token_positions": (lambda p: _lm()(ids(2, 5), p), lambda: pos(5), LM_FORWARD, "token_positions"),
    "cross_entropy": (lambda t: cross_entropy(f(13, 5), t), lambda: ids(13, high=5), CE, "targets"),
    "rope": (lambda p: rope(f(8, 4), p, 10000.0), lambda: pos(8), "rope.rope", "token_positions"),
    "rope_angles": (lambda p: rope_angles(p, 4, 10000.0), lambda: pos(8), "rope.rope_angles", "token_positions"),
    "RotaryPositionalEmbedding": (
        lambda p: RotaryPositionalEmbedding(10000.0, 4, 8)(f(8, 4), p),
        lambda: pos(8),
        "rope.RotaryPositionalEmbedding.forward",
        "token_positions",
    ),
    "CausalMultiHeadSelfAttention": (
        lambda p: F32.module(MHA, TINY)(f(2, 5, 16), p),
        lambda: pos(5),
        MHA_FORWARD,
        "token_positions",
    ),
    "sinusoidal_positions": (lambda p: sinusoidal_positions(p, 4), lambda: pos(8), SINUSOIDAL, "token_positions"),
}
NARROW_ID_DTYPES = {torch.uint8: "u8", torch.int16: "i16"}  # jaxtyping's short names in "Actual value"


@pytest.mark.parametrize("dtype", list(NARROW_ID_DTYPES), ids=lambda dtype: str(dtype).removeprefix("torch."))
@pytest.mark.parametrize("name", list(NARROW_ID_CALLS))
def test_narrow_integer_ids_are_rejected_by_name(name: str, dtype: torch.dtype) -> None:
    """The call runs with int64 ids; uint8/int16 ids give a TypeCheckError naming the argument and its dtype."""
    fn, make_ids, where, argument = NARROW_ID_CALLS[name]
    wide = make_ids()
    fn(wide)
    narrow = wide.to(dtype)
    actual = f"{NARROW_ID_DTYPES[dtype]}[{','.join(map(str, narrow.shape))}]"
    with pytest.raises(TypeCheckError) as raised:
        fn(narrow)
    pattern = typecheck(where, argument, actual=actual) + r".*Expected type: .*Int32Or64\[Tensor"
    assert re.search(pattern, str(raised.value), re.DOTALL | re.MULTILINE), (
        f"{name}: {dtype} {argument} rejected without matching {pattern!r}:\n{raised.value}"
    )


# Valid calls: an int where a float is annotated is a number all the same (PEP 484's numeric tower), and
# gives exactly the result of the equal float. TransformerConfig itself accepts an int rope_theta.
INT_SCALAR_CALLS: dict[str, tuple[Callable[[float], object], int]] = {
    "rope-theta": (lambda theta: rope(f(3, 4), pos(3), theta), 10000),
    "rope_angles-theta": (lambda theta: rope_angles(pos(3), 4, theta), 10000),
    "RotaryPositionalEmbedding-theta": (lambda theta: RotaryPositionalEmbedding(theta, 4, 8)(f(3, 4), pos(3)), 10000),
    "TransformerLM-config_rope_theta": (lambda theta: _lm(TINY.replace(rope_theta=theta))(ids(2, 5)), 10000),
    "run_rope-theta": (lambda theta: run_rope(4, theta, 8, f(3, 4), pos(3)), 10000),
    "softmax_with_temperature-temperature": (lambda temperature: softmax_with_temperature(f(3), temperature), 2),
    "sinusoidal_positions-base": (lambda base: sinusoidal_positions(pos(3), 4, base), 10000),
}


@pytest.mark.parametrize("name", list(INT_SCALAR_CALLS))
def test_int_scalar_is_accepted_where_a_float_is_annotated(name: str) -> None:
    """An int theta/temperature/base is a valid number: no type error, and the result of the equal float."""
    fn, value = INT_SCALAR_CALLS[name]
    torch.testing.assert_close(fn(value), fn(float(value)), rtol=0, atol=0)


# ----- switching the checks off -----

# (bad call, error with checks on, outcome with checks off: an exception type, or None when it now runs)
CHECKS_OFF_CASES: dict[str, tuple[Callable[[], object], type[BaseException], type[BaseException] | None]] = {
    "linear-x_d_in_5_vs_weight_d_in_3": (lambda: linear(f(2, 5), f(4, 3)), TypeCheckError, RuntimeError),
    "linear-float64_x_float32_weight": (lambda: linear(F64.floats(2, 3), f(4, 3)), InputError, RuntimeError),
    "linear-x_on_meta_weight_on_cpu": (lambda: linear(META.floats(2, 3), f(4, 3)), InputError, None),
    "Linear-x_d_in_5_vs_d_in_3": (lambda: F32.module(Linear, 3, 4)(f(2, 5)), InputError, RuntimeError),
    "Linear-float16_x_float32_module": (
        lambda: F32.module(Linear, 3, 4)(F16.floats(2, 3)),
        InputError,
        RuntimeError,
    ),
    "Embedding-int16_token_ids": (
        lambda: F32.module(Embedding, 13, 4)(ids(13, dtype=torch.int16)),
        TypeCheckError,
        IndexError,
    ),
    "embedding-token_id_7_vocab_7": (lambda: embedding(torch.tensor([7]), f(7, 4)), InputError, IndexError),
    "cross_entropy-target_5_vocab_5": (lambda: cross_entropy(f(2, 5), torch.tensor([0, 5])), InputError, RuntimeError),
    "TransformerLM-no_position_seq_9_longer_than_context_8": (
        lambda: _lm(TINY.replace(position_encoding="none"))(ids(1, 9)),
        InputError,
        None,
    ),
    "CausalMultiHeadSelfAttention-seq_9_longer_than_max_seq_len_8": (
        lambda: F32.module(MHA, TINY)(f(1, 9, 16)),
        InputError,
        IndexError,
    ),
}


@pytest.mark.parametrize("name", list(CHECKS_OFF_CASES))
def test_checks_false_switches_the_checks_off_and_back_on(name: str) -> None:
    """Under ``checks(False)`` a call that raised our error runs or fails inside torch; afterwards it raises again."""
    bad_call, checked_error, unchecked_outcome = CHECKS_OFF_CASES[name]
    with pytest.raises(checked_error):
        bad_call()
    with checks(False):
        assert not checks_enabled()
        if unchecked_outcome is None:
            bad_call()
        else:
            with pytest.raises(unchecked_outcome) as raised:
                bad_call()
            assert not isinstance(raised.value, TypeCheckError | InputError), raised.value
    assert checks_enabled()
    with pytest.raises(checked_error):
        bad_call()


def test_checks_context_manager_restores_the_previous_setting_even_after_an_error() -> None:
    """Leaving ``checks(...)`` by an exception restores the switch, and nested blocks restore their outer one."""
    with pytest.raises(RuntimeError, match="cannot be multiplied"), checks(False):
        linear(f(2, 5), f(4, 3))
    assert checks_enabled()
    with checks(False):
        with checks(True):
            assert checks_enabled()
            with pytest.raises(TypeCheckError):
                linear(f(2, 5), f(4, 3))
        assert not checks_enabled()
    assert checks_enabled()


_ENV_SWITCH_SCRIPT = textwrap.dedent(
    """
    import torch
    import reference

    def outcome():
        try:
            reference.linear(torch.ones(2, 5), torch.ones(4, 3))
        except Exception as error:
            return type(error).__name__
        return "ran"

    print(reference.checks_enabled(), outcome())
    reference.set_checks(True)
    print(reference.checks_enabled(), outcome())
    """
)


def test_env_var_reference_checks_0_switches_the_checks_off_at_import() -> None:
    """``REFERENCE_CHECKS=0`` in a fresh interpreter: torch's RuntimeError, until ``set_checks(True)``."""
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "REFERENCE_CHECKS": "0", "PYTHONPATH": python_path}
    result = subprocess.run(
        [sys.executable, "-c", _ENV_SWITCH_SCRIPT],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False RuntimeError", "True TypeCheckError"], result.stdout
