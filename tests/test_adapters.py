"""The SPEC §4 adapter functions in ``reference/adapters.py`` agree with the reference modules called directly.

Shapes are the course test model's (SPEC §2): batch 4, seq 12, d_model 64,
4 heads, d_ff 128, vocab 10000, context 16, Θ 10000. The leading-dimension
checks use batch 6 and (2, 3) so that no batch size equals the head count.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

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
    adapters,
    cross_entropy,
    load_weights,
    scaled_dot_product_attention,
    silu,
    softmax,
)

BATCH, SEQ, D_MODEL, HEADS, D_FF, VOCAB, CONTEXT, THETA, LAYERS = 4, 12, 64, 4, 128, 10000, 16, 10000.0, 3
D_HEAD = D_MODEL // HEADS
EPS = 1e-5

LM_CONFIG = TransformerConfig(
    vocab_size=VOCAB,
    context_length=CONTEXT,
    d_model=D_MODEL,
    num_layers=LAYERS,
    num_heads=HEADS,
    d_ff=D_FF,
    rope_theta=THETA,
)
BLOCK_CONFIG = LM_CONFIG.replace(num_layers=1)
NO_ROPE_CONFIG = LM_CONFIG.replace(num_layers=1, position_encoding="none")


def _randn(*shape: int, seed: int, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def _matrix(d_out: int, d_in: int, seed: int) -> Tensor:
    """A weight scaled by 1/√d_in so activations stay of order one through every layer."""
    return _randn(d_out, d_in, seed=seed, scale=1 / math.sqrt(d_in))


def _block_weights(seed: int) -> dict[str, Tensor]:
    return {
        "attn.q_proj.weight": _matrix(D_MODEL, D_MODEL, seed),
        "attn.k_proj.weight": _matrix(D_MODEL, D_MODEL, seed + 1),
        "attn.v_proj.weight": _matrix(D_MODEL, D_MODEL, seed + 2),
        "attn.output_proj.weight": _matrix(D_MODEL, D_MODEL, seed + 3),
        "ln1.weight": 1 + _randn(D_MODEL, seed=seed + 4, scale=0.1),
        "ln2.weight": 1 + _randn(D_MODEL, seed=seed + 5, scale=0.1),
        "ffn.w1.weight": _matrix(D_FF, D_MODEL, seed + 6),
        "ffn.w2.weight": _matrix(D_MODEL, D_FF, seed + 7),
        "ffn.w3.weight": _matrix(D_FF, D_MODEL, seed + 8),
    }


def _lm_weights(seed: int) -> dict[str, Tensor]:
    weights = {"token_embeddings.weight": _randn(VOCAB, D_MODEL, seed=seed)}
    for i in range(LAYERS):
        weights.update({f"layers.{i}.{key}": value for key, value in _block_weights(seed + 10 * (i + 1)).items()})
    weights["ln_final.weight"] = 1 + _randn(D_MODEL, seed=seed + 100, scale=0.1)
    weights["lm_head.weight"] = _matrix(VOCAB, D_MODEL, seed + 101)
    return weights


def _on(weights: dict[str, Tensor], device: torch.device, dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    return {key: value.to(device=device, dtype=dtype) for key, value in weights.items()}


def _attention_projections(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    weights = _block_weights(seed)
    names = ("q_proj", "k_proj", "v_proj", "output_proj")
    return tuple(weights[f"attn.{name}.weight"] for name in names)  # type: ignore[return-value]


def _attention_module(config: TransformerConfig, projections: tuple[Tensor, ...], device: torch.device):
    names = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "output_proj.weight")
    module = CausalMultiHeadSelfAttention(config, device=device)
    return load_weights(module, {name: w.to(device) for name, w in zip(names, projections, strict=True)})


def _distinct_positions(rows: int, seed: int) -> Tensor:
    """One unsorted row of SEQ distinct positions in [0, CONTEXT) per example, no two rows equal."""
    generator = torch.Generator().manual_seed(seed)
    positions = torch.stack([torch.randperm(CONTEXT, generator=generator)[:SEQ] for _ in range(rows)])
    assert len({tuple(row.tolist()) for row in positions}) == rows
    return positions


# ---------------------------------------------------------------- each adapter vs the reference modules


def test_run_linear_matches_module(device: torch.device) -> None:
    weight, x = _matrix(D_FF, D_MODEL, 0).to(device), _randn(BATCH, SEQ, D_MODEL, seed=1).to(device)
    module = load_weights(Linear(D_MODEL, D_FF, device=device), {"weight": weight})
    torch.testing.assert_close(adapters.run_linear(D_MODEL, D_FF, weight, x), module(x))


def test_run_embedding_matches_module(device: torch.device) -> None:
    weight = _randn(VOCAB, D_MODEL, seed=2).to(device)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(3)).to(device)
    module = load_weights(Embedding(VOCAB, D_MODEL, device=device), {"weight": weight})
    torch.testing.assert_close(adapters.run_embedding(VOCAB, D_MODEL, weight, ids), module(ids))


def test_run_swiglu_matches_module(device: torch.device) -> None:
    w1, w2, w3 = _matrix(D_FF, D_MODEL, 4), _matrix(D_MODEL, D_FF, 5), _matrix(D_FF, D_MODEL, 6)
    x = _randn(BATCH, SEQ, D_MODEL, seed=7).to(device)
    module = load_weights(
        SwiGLU(D_MODEL, D_FF, device=device), _on({"w1.weight": w1, "w2.weight": w2, "w3.weight": w3}, device)
    )
    torch.testing.assert_close(
        adapters.run_swiglu(D_MODEL, D_FF, w1.to(device), w2.to(device), w3.to(device), x), module(x)
    )


def test_run_silu_matches_reference(device: torch.device) -> None:
    x = _randn(BATCH, SEQ, D_MODEL, seed=8, scale=4.0).to(device)
    torch.testing.assert_close(adapters.run_silu(x), silu(x))


def test_run_rmsnorm_matches_module(device: torch.device) -> None:
    weight, x = 1 + _randn(D_MODEL, seed=9, scale=0.1), _randn(BATCH, SEQ, D_MODEL, seed=10, scale=3.0)
    weight, x = weight.to(device), x.to(device)
    module = load_weights(RMSNorm(D_MODEL, eps=EPS, device=device), {"weight": weight})
    torch.testing.assert_close(adapters.run_rmsnorm(D_MODEL, EPS, weight, x), module(x))


def test_run_rope_matches_module(device: torch.device) -> None:
    x = _randn(BATCH, SEQ, D_MODEL, seed=11).to(device)
    positions = _distinct_positions(BATCH, seed=12).to(device)
    module = RotaryPositionalEmbedding(THETA, D_MODEL, CONTEXT, device=device)
    torch.testing.assert_close(adapters.run_rope(D_MODEL, THETA, CONTEXT, x, positions), module(x, positions))


def test_run_softmax_matches_reference(device: torch.device) -> None:
    x = _randn(BATCH, SEQ, D_MODEL, seed=13, scale=5.0).to(device)
    for dim in (-1, 0, 1):
        torch.testing.assert_close(adapters.run_softmax(x, dim=dim), softmax(x, dim=dim))


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_run_sdpa_matches_reference(masked: bool, device: torch.device) -> None:
    q = _randn(BATCH, SEQ, D_HEAD, seed=14).to(device)
    k = _randn(BATCH, SEQ + 2, D_HEAD, seed=15).to(device)
    v = _randn(BATCH, SEQ + 2, D_HEAD, seed=16).to(device)
    mask = (torch.rand(BATCH, SEQ, SEQ + 2, generator=torch.Generator().manual_seed(17)) > 0.3).to(device)
    mask[..., 0] = True  # every query keeps one key, so no row is all -inf
    mask = mask if masked else None
    torch.testing.assert_close(
        adapters.run_scaled_dot_product_attention(q, k, v, mask), scaled_dot_product_attention(q, k, v, mask)
    )


def test_run_multihead_self_attention_matches_module(device: torch.device) -> None:
    projections = _attention_projections(18)
    x = _randn(BATCH, SEQ, D_MODEL, seed=19).to(device)
    module = _attention_module(NO_ROPE_CONFIG, projections, device)
    observed = adapters.run_multihead_self_attention(D_MODEL, HEADS, *(w.to(device) for w in projections), x)
    torch.testing.assert_close(observed, module(x))


def test_run_multihead_self_attention_with_rope_matches_module(device: torch.device) -> None:
    projections = _attention_projections(20)
    x = _randn(BATCH, SEQ, D_MODEL, seed=21).to(device)
    positions = _distinct_positions(BATCH, seed=22).to(device)
    module = _attention_module(BLOCK_CONFIG, projections, device)
    observed = adapters.run_multihead_self_attention_with_rope(
        D_MODEL, HEADS, CONTEXT, THETA, *(w.to(device) for w in projections), x, positions
    )
    torch.testing.assert_close(observed, module(x, positions))


def test_run_multihead_self_attention_with_rope_none_means_arange(device: torch.device) -> None:
    """``token_positions=None`` gives positions 0 … seq-1 (SPEC §4)."""
    projections = tuple(w.to(device) for w in _attention_projections(23))
    x = _randn(BATCH, SEQ, D_MODEL, seed=24).to(device)
    run = adapters.run_multihead_self_attention_with_rope
    torch.testing.assert_close(
        run(D_MODEL, HEADS, CONTEXT, THETA, *projections, x),
        run(D_MODEL, HEADS, CONTEXT, THETA, *projections, x, torch.arange(SEQ, device=device)),
    )


def test_run_transformer_block_matches_module(device: torch.device) -> None:
    weights = _on(_block_weights(25), device)
    x = _randn(BATCH, SEQ, D_MODEL, seed=26).to(device)
    module = load_weights(TransformerBlock(BLOCK_CONFIG, device=device), weights)
    observed = adapters.run_transformer_block(D_MODEL, HEADS, D_FF, CONTEXT, THETA, weights, x)
    torch.testing.assert_close(observed, module(x, torch.arange(SEQ, device=device)))


def test_run_transformer_lm_matches_module(device: torch.device) -> None:
    weights = _on(_lm_weights(27), device)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(28)).to(device)
    module = load_weights(TransformerLM(LM_CONFIG, device=device), weights)
    observed = adapters.run_transformer_lm(VOCAB, CONTEXT, D_MODEL, LAYERS, HEADS, D_FF, THETA, weights, ids)
    assert observed.shape == (BATCH, SEQ, VOCAB)
    torch.testing.assert_close(observed, module(ids))


def test_run_cross_entropy_matches_reference(device: torch.device) -> None:
    logits = _randn(BATCH, SEQ, VOCAB, seed=29).to(device)
    targets = torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(30)).to(device)
    torch.testing.assert_close(adapters.run_cross_entropy(logits, targets), cross_entropy(logits, targets))


# ---------------------------------------------------------------- leading dimensions (SPEC §4)


def _leading_dim_cases(device: torch.device) -> dict[str, Callable[[Tensor], Tensor]]:
    """Each adapter that SPEC §4 says accepts ``(..., seq, d)``, as a function of its input alone."""
    linear_w = _matrix(D_FF, D_MODEL, 31).to(device)
    rms_w = (1 + _randn(D_MODEL, seed=32, scale=0.1)).to(device)
    w1, w2, w3 = (
        w.to(device) for w in (_matrix(D_FF, D_MODEL, 33), _matrix(D_MODEL, D_FF, 34), _matrix(D_FF, D_MODEL, 35))
    )
    projections = tuple(w.to(device) for w in _attention_projections(36))
    block = _on(_block_weights(37), device)
    return {
        "linear": lambda x: adapters.run_linear(D_MODEL, D_FF, linear_w, x),
        "rmsnorm": lambda x: adapters.run_rmsnorm(D_MODEL, EPS, rms_w, x),
        "swiglu": lambda x: adapters.run_swiglu(D_MODEL, D_FF, w1, w2, w3, x),
        "rope": lambda x: adapters.run_rope(D_MODEL, THETA, CONTEXT, x, torch.arange(SEQ, device=x.device)),
        "sdpa": lambda x: adapters.run_scaled_dot_product_attention(x, x.flip(-1), x * 0.5),
        "sdpa-masked": lambda x: adapters.run_scaled_dot_product_attention(
            x, x.flip(-1), x * 0.5, torch.ones(SEQ, SEQ, dtype=torch.bool, device=x.device).tril()
        ),
        "mha": lambda x: adapters.run_multihead_self_attention(D_MODEL, HEADS, *projections, x),
        "mha-rope": lambda x: adapters.run_multihead_self_attention_with_rope(
            D_MODEL, HEADS, CONTEXT, THETA, *projections, x
        ),
        "block": lambda x: adapters.run_transformer_block(D_MODEL, HEADS, D_FF, CONTEXT, THETA, block, x),
    }


_LEADING_CASES = ["linear", "rmsnorm", "swiglu", "rope", "sdpa", "sdpa-masked", "mha", "mha-rope", "block"]


@pytest.mark.parametrize("case", _LEADING_CASES)
def test_leading_dimensions_accepted(case: str, device: torch.device) -> None:
    """``(seq, d)``, ``(batch, seq, d)`` and ``(b1, b2, seq, d)`` all work and agree example by example.

    Each example of a ``(batch, seq, d)`` call equals that example called alone as
    ``(seq, d)``, and a ``(b1, b2, seq, d)`` call equals the ``(b1·b2, seq, d)`` call.
    """
    run = _leading_dim_cases(device)[case]
    x = _randn(2, 3, SEQ, D_MODEL, seed=38).to(device)
    flat = x.flatten(0, 1)
    batched = run(flat)
    assert batched.shape[:-1] == flat.shape[:-1]
    for b, example in enumerate(flat[:3]):
        single = run(example)
        assert single.shape == batched.shape[1:]
        torch.testing.assert_close(batched[b], single)
    nested = run(x)
    assert nested.shape[:-1] == x.shape[:-1]
    torch.testing.assert_close(nested.flatten(0, 1), batched)


# ---------------------------------------------------------------- token_positions shapes (SPEC §4)


def _rope_runners(device: torch.device) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    projections = tuple(w.to(device) for w in _attention_projections(39))
    return {
        "rope": lambda x, p: adapters.run_rope(D_MODEL, THETA, CONTEXT, x, p),
        "mha-rope": lambda x, p: adapters.run_multihead_self_attention_with_rope(
            D_MODEL, HEADS, CONTEXT, THETA, *projections, x, p
        ),
    }


@pytest.mark.parametrize("case", ["rope", "mha-rope"])
def test_token_positions_per_example_rows(case: str, device: torch.device) -> None:
    """Positions ``(batch, seq)`` with a different row per example apply row b to example b."""
    run = _rope_runners(device)[case]
    x = _randn(BATCH, SEQ, D_MODEL, seed=40).to(device)
    positions = _distinct_positions(BATCH, seed=41).to(device)
    out = run(x, positions)
    for b in range(BATCH):
        torch.testing.assert_close(out[b], run(x[b], positions[b]))
    # Rows really differ, so using row 0 for every example would be caught.
    assert not torch.allclose(out[1], run(x[1], positions[0]))


@pytest.mark.parametrize("case", ["rope", "mha-rope"])
def test_token_positions_broadcast_shapes_agree(case: str, device: torch.device) -> None:
    """Positions ``(seq,)``, ``(1, seq)`` and the same row repeated as ``(batch, seq)`` give one result."""
    run = _rope_runners(device)[case]
    x = _randn(BATCH, SEQ, D_MODEL, seed=42).to(device)
    row = _distinct_positions(1, seed=43)[0].to(device)
    expected = run(x, row.expand(BATCH, SEQ))
    torch.testing.assert_close(run(x, row), expected)
    torch.testing.assert_close(run(x, row[None]), expected)


def test_rope_positions_broadcast_over_two_leading_dims(device: torch.device) -> None:
    """RoPE input ``(b1, b2, seq, d)`` with positions ``(b1, 1, seq)``: row i applies to all of ``x[i]``."""
    x = _randn(2, 3, SEQ, D_MODEL, seed=44).to(device)
    positions = _distinct_positions(2, seed=45).to(device)
    out = adapters.run_rope(D_MODEL, THETA, CONTEXT, x, positions[:, None, :])
    for i in range(2):
        torch.testing.assert_close(out[i], adapters.run_rope(D_MODEL, THETA, CONTEXT, x[i], positions[i]))


# ---------------------------------------------------------------- dtypes of inputs (SPEC §4)


def test_float16_input_with_float32_weights(device: torch.device) -> None:
    """float16 activations with float32 weights give float16 outputs, equal to the reference in float16."""
    x = _randn(BATCH, SEQ, D_MODEL, seed=46).to(device=device, dtype=torch.float16)
    w, g = _matrix(D_FF, D_MODEL, 47).to(device), (1 + _randn(D_MODEL, seed=48, scale=0.1)).to(device)
    w1, w2, w3 = (
        _matrix(D_FF, D_MODEL, 49).to(device),
        _matrix(D_MODEL, D_FF, 50).to(device),
        _matrix(D_FF, D_MODEL, 51).to(device),
    )
    half = torch.float16
    outputs = {
        "run_linear": (
            adapters.run_linear(D_MODEL, D_FF, w, x),
            load_weights(Linear(D_MODEL, D_FF, device=device, dtype=half), {"weight": w})(x),
        ),
        "run_rmsnorm": (
            adapters.run_rmsnorm(D_MODEL, EPS, g, x),
            load_weights(RMSNorm(D_MODEL, eps=EPS, device=device, dtype=half), {"weight": g})(x),
        ),
        "run_swiglu": (
            adapters.run_swiglu(D_MODEL, D_FF, w1, w2, w3, x),
            load_weights(
                SwiGLU(D_MODEL, D_FF, device=device, dtype=half), {"w1.weight": w1, "w2.weight": w2, "w3.weight": w3}
            )(x),
        ),
    }
    for name, (observed, expected) in outputs.items():
        assert observed.dtype == torch.float16, f"{name} returned {observed.dtype} for float16 input"
        torch.testing.assert_close(observed, expected, msg=lambda m, name=name: f"{name}: {m}")


def test_int32_token_ids_and_targets(device: torch.device) -> None:
    """int32 ids (embedding, LM) and int32 targets (cross-entropy) give the int64 results."""
    generator = torch.Generator().manual_seed(52)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator).to(device)
    emb = _randn(VOCAB, D_MODEL, seed=53).to(device)
    torch.testing.assert_close(
        adapters.run_embedding(VOCAB, D_MODEL, emb, ids.int()), adapters.run_embedding(VOCAB, D_MODEL, emb, ids)
    )
    weights = _on(_lm_weights(54), device)
    lm_args = (VOCAB, CONTEXT, D_MODEL, LAYERS, HEADS, D_FF, THETA, weights)
    torch.testing.assert_close(
        adapters.run_transformer_lm(*lm_args, ids.int()), adapters.run_transformer_lm(*lm_args, ids)
    )
    logits = _randn(BATCH, SEQ, VOCAB, seed=55).to(device)
    torch.testing.assert_close(adapters.run_cross_entropy(logits, ids.int()), adapters.run_cross_entropy(logits, ids))
