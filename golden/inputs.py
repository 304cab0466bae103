"""Seeded inputs and weights of the golden cases: the same numbers on every machine and in every dtype.

Every tensor is drawn from its own CPU ``torch.Generator`` seeded by the tensor's name (CRC-32), so adding
a case never shifts another's numbers. Values come from ``torch.randint`` (integer draws from mt19937,
identical on every CPU) scaled in float64, not from ``torch.randn``, whose Box–Muller transform runs
through vectorised and libm transcendentals that need not agree bit for bit between machines.

Each value is then rounded to the bfloat16 grid and values below float16's normal range are flushed to
zero, so a tensor is *exactly* representable in float64, float32, float16 and bfloat16: the cases of all
four dtypes see the same numbers, and the float64 snapshot of a case is the exact truth against which
its float16/bfloat16 outputs are judged. Tensors are float64 (or int64) on the CPU; the golden fixture
casts them to the case's dtype and moves them to the device under test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace

import torch
from torch import Tensor, nn

from harness.inputs import on_shared_grid, uniform

# The course test model (SPEC §2 table).
VOCAB, CONTEXT, D_MODEL, LAYERS, HEADS, D_FF, THETA = 10000, 16, 64, 3, 4, 128, 10000.0
D_HEAD = D_MODEL // HEADS
BATCH, SEQ = 2, 16
# Logits of a 10000-word vocabulary cost about 21 bytes per position and word over the four dtypes in
# base64; five positions per example keep the course LM's snapshots near 2 MB (budget: 5 MB in all).
LM_SEQ = 5


def activations(name: str, shape: tuple[int, ...], rms: float = 1.0) -> Tensor:
    """Uniform values with root-mean-square ``rms``."""
    return uniform(name, shape, rms * math.sqrt(3))


def linear_weight(name: str, d_out: int, d_in: int) -> Tensor:
    """``(d_out, d_in)`` with the SPEC's Linear init variance ``2/(d_in+d_out)``."""
    return uniform(name, (d_out, d_in), math.sqrt(6 / (d_in + d_out)))


def gain(name: str, d: int) -> Tensor:
    """An RMSNorm gain near 1 but not 1, so an implementation that ignores the weight shows."""
    return on_shared_grid(1 + uniform(name, (d,), 0.25))


def weight_for(name: str, shape: tuple[int, ...]) -> Tensor:
    """A parameter by its state-dict key: embeddings ~ unit variance, norm gains near 1, biases small."""
    key = name.rsplit(":", 1)[-1]
    if key.endswith("token_embeddings.weight"):
        return uniform(name, shape, math.sqrt(3))
    if key.endswith(".bias"):
        return uniform(name, shape, 0.5)
    if len(shape) == 1:
        return gain(name, shape[0])
    d_out, d_in = shape
    return linear_weight(name, d_out, d_in)


def block_weights(tag: str, d_model: int = D_MODEL, d_ff: int = D_FF, prefix: str = "") -> dict[str, Tensor]:
    """One course block's state dict (SPEC §1 keys, ``prefix`` prepended) for MHA with d_k = d_model/heads."""
    shapes = {
        "attn.q_proj.weight": (d_model, d_model),
        "attn.k_proj.weight": (d_model, d_model),
        "attn.v_proj.weight": (d_model, d_model),
        "attn.output_proj.weight": (d_model, d_model),
        "ln1.weight": (d_model,),
        "ln2.weight": (d_model,),
        "ffn.w1.weight": (d_ff, d_model),
        "ffn.w2.weight": (d_model, d_ff),
        "ffn.w3.weight": (d_ff, d_model),
    }
    return {prefix + key: weight_for(f"{tag}:{prefix}{key}", shape) for key, shape in shapes.items()}


def lm_weights(tag: str) -> dict[str, Tensor]:
    """The course test model's whole state dict (SPEC §1 keys)."""
    weights = {"token_embeddings.weight": weight_for(f"{tag}:token_embeddings.weight", (VOCAB, D_MODEL))}
    for layer in range(LAYERS):
        weights |= block_weights(tag, prefix=f"layers.{layer}.")
    weights["ln_final.weight"] = weight_for(f"{tag}:ln_final.weight", (D_MODEL,))
    weights["lm_head.weight"] = weight_for(f"{tag}:lm_head.weight", (VOCAB, D_MODEL))
    return weights


def module_weights(tag: str, module: nn.Module) -> dict[str, Tensor]:
    """A state dict for any module by its parameter names and shapes (its own values are not read).

    Tied parameters appear once, under their first name, as ``load_weights`` accepts.
    """
    return {name: weight_for(f"{tag}:{name}", tuple(p.shape)) for name, p in module.named_parameters()}


def as_case(value: object, dtype: torch.dtype, device: torch.device) -> object:
    """Floating tensors (also inside a weights mapping) cast to ``dtype`` and moved; ids only moved."""
    if isinstance(value, Tensor):
        # A copy even where dtype and device already match: inputs are cached, and a call may write into them.
        return value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype, copy=True)
    if isinstance(value, Mapping):
        return {key: as_case(item, dtype, device) for key, item in value.items()}
    return value


def floating(arguments: Mapping[str, object]) -> dict[str, Tensor]:
    """The floating-point tensors among ``arguments``, a weights mapping's entries included."""
    found = {}
    for name, value in arguments.items():
        if isinstance(value, Tensor) and value.is_floating_point():
            found[name] = value
        elif isinstance(value, Mapping):
            found |= floating({f"{name}[{key!r}]": item for key, item in value.items()})
    return found


def course_model() -> SimpleNamespace:
    """The course test model as plain fields (for ``golden.independent``, which reads no reference code)."""
    return SimpleNamespace(
        vocab_size=VOCAB,
        context_length=CONTEXT,
        d_model=D_MODEL,
        num_layers=LAYERS,
        num_heads=HEADS,
        num_kv_heads=None,
        head_dim=None,
        d_ff=D_FF,
        rope_theta=THETA,
        rope_layout="interleaved",
        position_encoding="rope",
        qk_norm=False,
        norm_eps=1e-5,
    )
