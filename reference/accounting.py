"""Parameters, memory and forward FLOPs of a Transformer LM, from its configuration alone (SPEC §3).

FLOPs count matmuls only, ``2·m·n·p`` for an ``(m×n)(n×p)`` product, which is
what ``torch.utils.flop_counter.FlopCounterMode`` counts on a real forward:
bias adds, norms, RoPE, the mask and softmax are elementwise and left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from reference.config import TransformerConfig

DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass(frozen=True)
class _Components:
    """Counts per component, one field each, in the order the forward meets them."""

    def items(self) -> list[tuple[str, int]]:
        return [(field.name, getattr(self, field.name)) for field in dataclasses.fields(self)]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.items())

    def share(self, component: str) -> float:
        return getattr(self, component) / self.total

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "components": {name: {"count": count, "share": self.share(name)} for name, count in self.items()},
        }


@dataclass(frozen=True)
class Parameters(_Components):
    """Parameter counts summed over all layers.

    ``q_proj``/``k_proj``/``v_proj`` include their bias (Qwen2), ``qk_norm``
    the per-head q and k gains (Qwen3); ``lm_head`` is 0 when tied, because its
    weight *is* ``token_embeddings``' and is stored once.
    """

    token_embeddings: int
    ln1: int
    q_proj: int
    k_proj: int
    v_proj: int
    qk_norm: int
    o_proj: int
    ln2: int
    ffn: int
    ln_final: int
    lm_head: int


@dataclass(frozen=True)
class ForwardFlops(_Components):
    """Forward FLOPs summed over all layers; ``attention_scores`` is QKᵀ, ``attention_values`` is softmax(·)·V."""

    q_proj: int
    k_proj: int
    v_proj: int
    attention_scores: int
    attention_values: int
    o_proj: int
    ffn: int
    lm_head: int


@dataclass(frozen=True)
class Accounting:
    """What one forward of ``batch × seq_len`` tokens through ``config`` holds and costs."""

    config: TransformerConfig
    seq_len: int
    batch: int
    parameters: Parameters
    flops: ForwardFlops

    def memory_bytes(self, dtype: str | torch.dtype) -> int:
        """Bytes the parameters take at ``dtype``: no activations, gradients, optimizer state or RoPE cache."""
        name = str(dtype).removeprefix("torch.")
        if name not in DTYPE_BYTES:
            raise ValueError(f"memory_bytes: dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
        return self.parameters.total * DTYPE_BYTES[name]

    def as_dict(self) -> dict[str, object]:
        """Everything above as JSON-ready values: what ``tools.accounting --json`` prints."""
        return {
            "config": dataclasses.asdict(self.config),
            "seq_len": self.seq_len,
            "batch": self.batch,
            "parameters": self.parameters.as_dict(),
            "memory_bytes": {dtype: self.memory_bytes(dtype) for dtype in DTYPE_BYTES},
            "flops": self.flops.as_dict(),
        }


def account(config: TransformerConfig, seq_len: int, batch: int = 1) -> Accounting:
    """Account ``config`` for a forward over ``batch`` sequences of ``seq_len`` tokens.

    ``seq_len`` may exceed ``config.context_length``: that asks what a longer
    context would cost, and no parameter depends on it.
    """
    for name, value in (("seq_len", seq_len), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"account: {name} must be a positive integer, got {value!r}")
    layers, d_model, d_ff, vocab = config.num_layers, config.d_model, config.d_ff, config.vocab_size
    q_width, kv_width = config.num_heads * config.d_head, config.kv_heads * config.d_head
    parameters = Parameters(
        token_embeddings=vocab * d_model,
        ln1=layers * d_model,
        q_proj=layers * _linear_parameters(d_model, q_width, config.qkv_bias),
        k_proj=layers * _linear_parameters(d_model, kv_width, config.qkv_bias),
        v_proj=layers * _linear_parameters(d_model, kv_width, config.qkv_bias),
        qk_norm=layers * 2 * config.d_head if config.qk_norm else 0,
        o_proj=layers * _linear_parameters(q_width, d_model),
        ln2=layers * d_model,
        ffn=layers * (2 * _linear_parameters(d_model, d_ff) + _linear_parameters(d_ff, d_model)),
        ln_final=d_model,
        lm_head=0 if config.tie_embeddings else _linear_parameters(d_model, vocab),
    )
    tokens = batch * seq_len
    # Every query head pays for the full seq×seq score matrix: k/v heads are broadcast over
    # their query group (GQA saves parameters, not these FLOPs) and the causal half is
    # computed, then masked, rather than skipped.
    attention_heads = layers * batch * config.num_heads
    flops = ForwardFlops(
        q_proj=layers * _matmul_flops(tokens, d_model, q_width),
        k_proj=layers * _matmul_flops(tokens, d_model, kv_width),
        v_proj=layers * _matmul_flops(tokens, d_model, kv_width),
        attention_scores=attention_heads * _matmul_flops(seq_len, config.d_head, seq_len),
        attention_values=attention_heads * _matmul_flops(seq_len, seq_len, config.d_head),
        o_proj=layers * _matmul_flops(tokens, q_width, d_model),
        ffn=layers * (2 * _matmul_flops(tokens, d_model, d_ff) + _matmul_flops(tokens, d_ff, d_model)),
        # A tied lm_head stores no weight of its own but still multiplies.
        lm_head=_matmul_flops(tokens, d_model, vocab),
    )
    return Accounting(config=config, seq_len=seq_len, batch=batch, parameters=parameters, flops=flops)


def _linear_parameters(d_in: int, d_out: int, bias: bool = False) -> int:
    return d_out * d_in + (d_out if bias else 0)


def _matmul_flops(m: int, n: int, p: int) -> int:
    """``(m×n)(n×p)``: ``m·p`` outputs, each ``n`` multiplies and ``n`` adds."""
    return 2 * m * n * p
