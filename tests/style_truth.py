"""Float64 truth for the SPEC §1 components, written from the formulas, and the cases the style check runs.

Independent of ``reference`` and ``harness``: plain torch in float64, one line per formula. Used by
``tests/test_styles_are_correct.py`` to show every file of ``catalog/correct/`` is correct in every dtype
within what its precision choice explains (SPEC §5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

F64 = torch.float64
EPS = 1e-5


# ---- truth ---------------------------------------------------------------------------------------------------------


def linear(x: Tensor, w: Tensor) -> Tensor:
    return x @ w.T


def silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def swiglu(x: Tensor, w1: Tensor, w2: Tensor, w3: Tensor) -> Tensor:
    return linear(silu(linear(x, w1)) * linear(x, w3), w2)


def rmsnorm(x: Tensor, g: Tensor, eps: float = EPS) -> Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    d = x.shape[-1]
    k = torch.arange(d // 2, dtype=F64)
    angles = positions.to(F64)[..., None] * float(theta) ** (-2.0 * k / d)
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


def softmax(x: Tensor, dim: int) -> Tensor:
    e = torch.exp(x - x.amax(dim, keepdim=True))
    return e / e.sum(dim, keepdim=True)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = torch.where(mask, scores, -math.inf)
    return softmax(scores, -1) @ v


def mha(x: Tensor, wq, wk, wv, wo, heads: int, rope_args: tuple[float, Tensor] | None) -> Tensor:
    seq = x.shape[-2]

    def split(t: Tensor) -> Tensor:
        return t.unflatten(-1, (heads, -1)).transpose(-2, -3)

    q, k, v = split(linear(x, wq)), split(linear(x, wk)), split(linear(x, wv))
    if rope_args is not None:
        theta, positions = rope_args
        per_head = positions.expand(x.shape[:-1]).unsqueeze(-2)
        q, k = rope(q, per_head, theta), rope(k, per_head, theta)
    causal = torch.ones(seq, seq, dtype=torch.bool).tril()
    out = attention(q, k, v, causal).transpose(-2, -3).flatten(-2)
    return linear(out, wo)


def block(x: Tensor, w: dict[str, Tensor], heads: int, theta: float) -> Tensor:
    attn = [w[f"attn.{n}.weight"] for n in ("q_proj", "k_proj", "v_proj", "output_proj")]
    positions = torch.arange(x.shape[-2])
    y = x + mha(rmsnorm(x, w["ln1.weight"]), *attn, heads, (theta, positions))
    return y + swiglu(rmsnorm(y, w["ln2.weight"]), w["ffn.w1.weight"], w["ffn.w2.weight"], w["ffn.w3.weight"])


def lm(ids: Tensor, w: dict[str, Tensor], layers: int, heads: int, theta: float) -> Tensor:
    x = w["token_embeddings.weight"][ids.long()]
    for i in range(layers):
        prefix = f"layers.{i}."
        x = block(x, {k[len(prefix) :]: v for k, v in w.items() if k.startswith(prefix)}, heads, theta)
    return linear(rmsnorm(x, w["ln_final.weight"]), w["lm_head.weight"])


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    m = logits.amax(-1, keepdim=True)
    lse = (m + (logits - m).exp().sum(-1, keepdim=True).log())[..., 0]
    return (lse - logits.gather(-1, targets.long()[..., None])[..., 0]).mean()


# ---- cases ---------------------------------------------------------------------------------------------------------


def normal(seed: int, *shape: int, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64) * scale


def weight(seed: int, d_out: int, d_in: int) -> Tensor:
    return normal(seed, d_out, d_in, scale=math.sqrt(2.0 / (d_in + d_out))).clamp(-3, 3)


def ids(seed: int, high: int, *shape: int, dtype=torch.int64) -> Tensor:
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def transposed(t: Tensor) -> Tensor:
    """Same values, every dimension's stride reversed: ``.view`` cannot merge its leading dims."""
    order = tuple(reversed(range(t.dim())))
    return t.permute(order).contiguous().permute(order)


def strided(t: Tensor) -> Tensor:
    return torch.stack((t, torch.zeros_like(t)), dim=-1)[..., 0]


LAYOUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "contiguous": lambda t: t,
    "transposed": transposed,
    "strided": strided,
}


@dataclass
class Case:
    """One adapter call: ``args`` (float64 tensors are cast to the dtype under test), and its float64 truth."""

    adapter: str
    label: str
    args: dict[str, object]
    truth: Callable[[dict[str, object]], Tensor]
    layout: str = "contiguous"
    # what the output's dtype follows when no floating input is named ``in_features`` etc.
    float_keys: tuple[str, ...] = field(default_factory=tuple)

    def arguments(self, dtype: torch.dtype) -> dict[str, object]:
        """The call's arguments in ``dtype``, laid out as asked (weights included)."""

        def convert(value: object) -> object:
            if isinstance(value, Tensor) and value.is_floating_point():
                return LAYOUTS[self.layout](value.to(dtype))
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        return {k: convert(v) for k, v in self.args.items()}

    def expected(self, rounded: dict[str, object]) -> Tensor:
        """Truth on the rounded inputs widened to float64: the input's own rounding is no one's error."""

        def widen(value: object) -> object:
            if isinstance(value, Tensor) and value.is_floating_point():
                return value.to(F64)
            if isinstance(value, dict):
                return {k: widen(v) for k, v in value.items()}
            return value

        return self.truth({k: widen(v) for k, v in rounded.items()})


def cases() -> Iterator[Case]:
    for lead, d_out in [((), 6), ((3,), 8), ((2, 3), 6)]:
        for layout in LAYOUTS:
            yield Case(
                "run_linear",
                f"lead={lead} d_out={d_out} {layout}",
                {"d_in": 8, "d_out": d_out, "weights": weight(1, d_out, 8), "in_features": normal(2, *lead, 4, 8)},
                lambda a: linear(a["in_features"], a["weights"]),
                layout,
            )
    for shape in [(5,), (2, 5), (2, 3, 4)]:
        for index_dtype in (torch.int32, torch.int64):
            yield Case(
                "run_embedding",
                f"ids {shape} {index_dtype}",
                {
                    "vocab_size": 20,
                    "d_model": 8,
                    "weights": normal(3, 20, 8),
                    "token_ids": ids(4, 20, *shape, dtype=index_dtype),
                },
                lambda a: a["weights"][a["token_ids"].long()],
            )
    for lead in [(), (2, 3)]:
        for layout in ("contiguous", "transposed"):
            yield Case(
                "run_silu",
                f"lead={lead} {layout}",
                {"in_features": normal(5, *lead, 7, scale=40.0 if lead else 4.0)},  # exp(-x) overflows at ±40
                lambda a: silu(a["in_features"]),
                layout,
            )
            yield Case(
                "run_swiglu",
                f"lead={lead} d_ff={8 if lead else 12} {layout}",
                {
                    "d_model": 8,
                    "d_ff": 8 if lead else 12,
                    "w1_weight": weight(6, 8 if lead else 12, 8),
                    "w2_weight": weight(7, 8, 8 if lead else 12),
                    "w3_weight": weight(8, 8 if lead else 12, 8),
                    "in_features": normal(9, *lead, 4, 8),
                },
                lambda a: swiglu(a["in_features"], a["w1_weight"], a["w2_weight"], a["w3_weight"]),
                layout,
            )
    for scale in (1.0, 500.0, 1e-3):
        for lead in [(), (2, 3)]:
            yield Case(
                "run_rmsnorm",
                f"scale={scale} lead={lead}",
                {
                    "d_model": 8,
                    "eps": 1e-5,
                    "weights": 1 + normal(10, 8, scale=0.25),
                    "in_features": normal(11, *lead, 4, 8, scale=scale),
                },
                lambda a: rmsnorm(a["in_features"], a["weights"], a["eps"]),
                "transposed" if lead else "contiguous",
            )
    rope_cases = [
        ((), (5,), 16, 10000.0),
        ((2,), (5,), 16, 10000.0),
        ((2,), (2, 5), 16, 10000.0),
        ((2, 3), (1, 5), 32, 500000.0),
        ((2, 3), (2, 3, 5), 32, 10000.0),
        ((2, 3), (1, 1, 5), 32, 10000.0),
        ((3,), (3, 5), 2048, 10000.0),
    ]
    for lead, position_shape, max_seq_len, theta in rope_cases:
        for index_dtype in (torch.int32, torch.int64):
            yield Case(
                "run_rope",
                f"x {(*lead, 5, 8)} positions {position_shape} {index_dtype} max {max_seq_len} theta {theta:g}",
                {
                    "d_k": 8,
                    "theta": theta,
                    "max_seq_len": max_seq_len,
                    "in_query_or_key": normal(12, *lead, 5, 8),
                    "token_positions": ids(13, max_seq_len, *position_shape, dtype=index_dtype),
                },
                lambda a: rope(a["in_query_or_key"], a["token_positions"], a["theta"]),
                "transposed",
            )
    for shape, dim, offset in [((2, 3, 7), -1, 0.0), ((2, 3, 7), -1, 1000.0), ((4, 3), 0, 0.0), ((2, 3, 7), 1, 0.0)]:
        yield Case(
            "run_softmax",
            f"shape {shape} dim {dim} +{offset:g}",
            {"in_features": normal(14, *shape, scale=3.0) + offset, "dim": dim},
            lambda a: softmax(a["in_features"], a["dim"]),
            "transposed",
        )
    masks = {
        "none": None,
        "(4,6) broadcast": torch.ones(4, 6, dtype=torch.bool).tril(2),
        "(2,4,6) random": torch.rand(2, 4, 6, generator=torch.Generator().manual_seed(3)) < 0.6,
    }
    for name, mask in masks.items():
        if mask is not None and mask.dim() == 3:
            mask[..., 0] = True  # every query keeps one key
        for lead in [(2,), (2, 3)] if name != "(2,4,6) random" else [(2,), (3, 2)]:
            q_scale = 30.0 if len(lead) == 2 else 1.0  # scores in the thousands: exp overflows without the max
            args = {
                "Q": normal(15, *lead, 4, 8, scale=q_scale),
                "K": normal(16, *lead, 6, 8),
                "V": normal(17, *lead, 6, 5),
            }
            if mask is not None:
                args["mask"] = mask
            yield Case(
                "run_scaled_dot_product_attention",
                f"mask {name} lead={lead}",
                args,
                lambda a: attention(a["Q"], a["K"], a["V"], a.get("mask")),
                "transposed",
            )
    wq, wk, wv, wo = weight(20, 16, 16), weight(21, 16, 16), weight(22, 16, 16), weight(23, 16, 16)
    for lead in [(), (2,), (2, 3)]:
        x = normal(24, *lead, 5, 16)
        projections = {"q_proj_weight": wq, "k_proj_weight": wk, "v_proj_weight": wv, "o_proj_weight": wo}
        yield Case(
            "run_multihead_self_attention",
            f"lead={lead}",
            {"d_model": 16, "num_heads": 4, **projections, "in_features": x},
            lambda a: mha(
                a["in_features"],
                a["q_proj_weight"],
                a["k_proj_weight"],
                a["v_proj_weight"],
                a["o_proj_weight"],
                a["num_heads"],
                None,
            ),
            "transposed",
        )
        position_options: dict[str, Tensor | None] = {"None": None, "(seq,)": ids(25, 32, 5)}
        if lead:
            position_options["(1, seq)"] = ids(26, 32, 1, 5)
            position_options["full"] = ids(27, 32, *lead, 5, dtype=torch.int32)
        if len(lead) == 2:
            position_options["(lead[-1], seq)"] = ids(28, 32, lead[-1], 5)
        for number, (name, positions) in enumerate(position_options.items()):
            theta = 100.0 if number % 2 else 10000.0
            args = {"d_model": 16, "num_heads": 4, "max_seq_len": 32, "theta": theta, **projections, "in_features": x}
            if positions is not None:
                args["token_positions"] = positions

            def truth(a: dict[str, object]) -> Tensor:
                p = a.get("token_positions")
                p = torch.arange(a["in_features"].shape[-2]) if p is None else p
                return mha(
                    a["in_features"],
                    a["q_proj_weight"],
                    a["k_proj_weight"],
                    a["v_proj_weight"],
                    a["o_proj_weight"],
                    a["num_heads"],
                    (a["theta"], p),
                )

            yield Case(
                "run_multihead_self_attention_with_rope", f"lead={lead} positions {name}", args, truth, "transposed"
            )
    layer = {
        "attn.q_proj.weight": wq,
        "attn.k_proj.weight": wk,
        "attn.v_proj.weight": wv,
        "attn.output_proj.weight": wo,
        "ln1.weight": 1 + normal(30, 16, scale=0.25),
        "ln2.weight": 1 + normal(31, 16, scale=0.25),
        "ffn.w1.weight": weight(32, 24, 16),
        "ffn.w2.weight": weight(33, 16, 24),
        "ffn.w3.weight": weight(34, 24, 16),
    }
    for seq, max_seq_len in [(5, 16), (16, 16)]:
        yield Case(
            "run_transformer_block",
            f"seq {seq} max_seq_len {max_seq_len}",
            {
                "d_model": 16,
                "num_heads": 4,
                "d_ff": 24,
                "max_seq_len": max_seq_len,
                "theta": 100.0 if seq == 5 else 10000.0,
                "weights": layer,
                "in_features": normal(35, 2, seq, 16),
            },
            lambda a: block(a["in_features"], a["weights"], a["num_heads"], a["theta"]),
            "transposed",
        )
    lm_weights = {"token_embeddings.weight": normal(40, 32, 16), "ln_final.weight": 1 + normal(41, 16, scale=0.25)}
    lm_weights["lm_head.weight"] = weight(42, 32, 16)
    for i in range(2):
        lm_weights |= {f"layers.{i}.{k}": v.flip(0) if i else v for k, v in layer.items()}
    for seq, index_dtype in [(5, torch.int64), (8, torch.int32)]:
        yield Case(
            "run_transformer_lm",
            f"seq {seq} {index_dtype}",
            {
                "vocab_size": 32,
                "context_length": 8,
                "d_model": 16,
                "num_layers": 2,
                "num_heads": 4,
                "d_ff": 24,
                "rope_theta": 100.0 if seq == 5 else 10000.0,
                "weights": lm_weights,
                "in_indices": ids(43, 32, 2, seq, dtype=index_dtype),
            },
            lambda a: lm(a["in_indices"], a["weights"], a["num_layers"], a["num_heads"], a["rope_theta"]),
        )
    for scale in (3.0, 3000.0):
        for shape, index_dtype in [((2, 5), torch.int64), ((7,), torch.int32), ((), torch.int64)]:
            yield Case(
                "run_cross_entropy",
                f"logits {(*shape, 11)} ×{scale:g} {index_dtype}",
                {"inputs": normal(44, *shape, 11, scale=scale), "targets": ids(45, 11, *shape, dtype=index_dtype)},
                lambda a: cross_entropy(a["inputs"], a["targets"]),
                "transposed",
            )
