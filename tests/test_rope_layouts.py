"""The two RoPE layouts are one rotation up to a fixed permutation of q/k projection rows (SPEC §2).

"interleaved" pairs features ``(2k, 2k+1)``; "half" pairs ``(k, k + d/2)``.
A model written for one layout, with its q/k weights, biases and q/k-norm gains
converted by ``convert_rope_layout``, computes the same function in the other.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from reference import (
    CausalMultiHeadSelfAttention,
    RotaryPositionalEmbedding,
    TransformerConfig,
    TransformerLM,
    convert_rope_layout,
    interleaved_to_half_permutation,
    load_weights,
    rope,
)

BASE = TransformerConfig(vocab_size=40, context_length=16, d_model=32, num_layers=2, num_heads=4, d_ff=48)

VARIANTS = {
    "mha": {},
    "gqa": {"num_kv_heads": 2},
    "mqa": {"num_kv_heads": 1},
    "qkv-bias": {"qkv_bias": True},
    "qk-norm": {"qk_norm": True},
    "decoupled-head-dim": {"head_dim": 12, "num_heads": 3},
    "qwen3-like": {"num_kv_heads": 2, "qkv_bias": True, "qk_norm": True, "head_dim": 6},
}

# Parameters RoPE acts on: every per-head feature row of q and k, including the per-head norm gains.
_ROTATED = ("q_proj.weight", "k_proj.weight", "q_proj.bias", "k_proj.bias", "q_norm.weight", "k_norm.weight")


def _random_weights(module: torch.nn.Module, seed: int) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator, dtype=torch.float64)
        for key, value in module.state_dict().items()
    }


def _convert(weights: dict[str, Tensor], head_dim: int, source: str, target: str) -> dict[str, Tensor]:
    """Convert the q/k entries of a state dict between layouts; everything else is copied unchanged."""
    return {
        key: convert_rope_layout(value, head_dim, source, target) if key.endswith(_ROTATED) else value
        for key, value in weights.items()
    }


def _attention(config: TransformerConfig, weights: dict[str, Tensor], device: torch.device):
    module = CausalMultiHeadSelfAttention(config, device=device, dtype=torch.float64)
    return load_weights(module, {key: value.to(device) for key, value in weights.items()})


def _inputs(config: TransformerConfig, device: torch.device, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 10, config.d_model, generator=generator, dtype=torch.float64)
    # Unsorted, non-contiguous positions, one row per example.
    positions = torch.stack([torch.randperm(config.context_length, generator=generator)[:10] for _ in range(2)])
    return x.to(device), positions.to(device)


def test_permutation_pinned_for_d_k_6() -> None:
    """Within a head of 6 features, the half layout reads interleaved features [0, 2, 4, 1, 3, 5]."""
    assert interleaved_to_half_permutation(6).tolist() == [0, 2, 4, 1, 3, 5]


def test_convert_pinned_example_two_heads() -> None:
    """Rows of a 2-head, d_k=6 projection are permuted within each head; columns are untouched."""
    weight = torch.arange(12, dtype=torch.float64)[:, None] * 10 + torch.arange(3, dtype=torch.float64)
    half = convert_rope_layout(weight, 6, "interleaved", "half")
    assert half[:, 0].div(10).long().tolist() == [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11]
    assert torch.equal(half[:, 1:] - half[:, :1], weight[:, 1:] - weight[:, :1])
    back = convert_rope_layout(torch.arange(12), 6, "half", "interleaved")
    assert back.tolist() == [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]


@pytest.mark.parametrize(
    "shape", [(4 * 16, 32), (4 * 16,), (16,)], ids=["projection-weight", "projection-bias", "norm-gain"]
)
def test_round_trip_is_bit_identical(shape: tuple[int, ...]) -> None:
    """interleaved → half → interleaved returns the original tensor exactly (a permutation loses nothing)."""
    tensor = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    half = convert_rope_layout(tensor, 16, "interleaved", "half")
    assert not torch.equal(half, tensor)
    assert torch.equal(convert_rope_layout(half, 16, "half", "interleaved"), tensor)


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_same_layout_conversion_is_an_equal_copy(layout: str) -> None:
    """Converting to the layout a tensor already has returns an equal tensor that does not alias it."""
    tensor = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    converted = convert_rope_layout(tensor, 8, layout, layout)
    assert torch.equal(converted, tensor)
    assert converted.data_ptr() != tensor.data_ptr()


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope_on_permuted_features_is_permuted_rope(theta: float, device: torch.device) -> None:
    """``rope_half(x[perm]) == rope_interleaved(x)[perm]`` feature by feature, at arbitrary positions."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 9, 16, generator=generator, dtype=torch.float64).to(device)
    positions = torch.randint(0, 4096, (3, 1, 9), generator=generator).to(device)
    perm = interleaved_to_half_permutation(16).to(device)
    interleaved = rope(x, positions, theta, layout="interleaved")
    half = rope(x[..., perm], positions, theta, layout="half")
    torch.testing.assert_close(half, interleaved[..., perm])


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_attention_same_output_after_conversion(variant: str, device: torch.device) -> None:
    """Interleaved attention equals half attention with converted q/k rows, biases and gains (float64)."""
    config = BASE.replace(**VARIANTS[variant])
    template = CausalMultiHeadSelfAttention(config, dtype=torch.float64)
    weights = _random_weights(template, seed=2)
    interleaved = _attention(config, weights, device)
    half_config = config.replace(rope_layout="half")
    half = _attention(half_config, _convert(weights, config.d_head, "interleaved", "half"), device)
    unconverted = _attention(half_config, weights, device)
    x, positions = _inputs(config, device, seed=3)
    expected = interleaved(x, positions)
    torch.testing.assert_close(half(x, positions), expected)
    # Without conversion the layouts really differ, so the equality above is not vacuous.
    assert not torch.allclose(unconverted(x, positions), expected)


@pytest.mark.parametrize("variant", ["mha", "qwen3-like"])
def test_half_to_interleaved_direction(variant: str, device: torch.device) -> None:
    """Converting a half-layout module's weights to interleaved also preserves the output."""
    config = BASE.replace(**VARIANTS[variant], rope_layout="half")
    weights = _random_weights(CausalMultiHeadSelfAttention(config, dtype=torch.float64), seed=4)
    half = _attention(config, weights, device)
    interleaved = _attention(
        config.replace(rope_layout="interleaved"), _convert(weights, config.d_head, "half", "interleaved"), device
    )
    x, positions = _inputs(config, device, seed=5)
    torch.testing.assert_close(interleaved(x, positions), half(x, positions))


def test_permuting_v_breaks_equivalence(device: torch.device) -> None:
    """RoPE never touches v: permuting v_proj rows too (o_proj unchanged) changes the output."""
    config = BASE
    weights = _random_weights(CausalMultiHeadSelfAttention(config, dtype=torch.float64), seed=6)
    converted = _convert(weights, config.d_head, "interleaved", "half")
    converted["v_proj.weight"] = convert_rope_layout(weights["v_proj.weight"], config.d_head, "interleaved", "half")
    interleaved = _attention(config, weights, device)
    wrong = _attention(config.replace(rope_layout="half"), converted, device)
    x, positions = _inputs(config, device, seed=7)
    assert not torch.allclose(wrong(x, positions), interleaved(x, positions))


def test_full_model_same_logits_after_conversion(device: torch.device) -> None:
    """A whole LM (GQA, q/k/v bias, q/k norm, 2 layers) gives the same logits in either layout (float64)."""
    config = BASE.replace(**VARIANTS["qwen3-like"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        template = TransformerLM(config, dtype=torch.float64)
    weights = _random_weights(template, seed=8)
    models = {}
    for layout, layout_weights in (
        ("interleaved", weights),
        ("half", _convert(weights, config.d_head, "interleaved", "half")),
    ):
        model = TransformerLM(config.replace(rope_layout=layout), device=device, dtype=torch.float64)
        models[layout] = load_weights(model, {key: value.to(device) for key, value in layout_weights.items()})
    token_ids = torch.randint(0, config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(9)).to(device)
    torch.testing.assert_close(models["half"](token_ids), models["interleaved"](token_ids))


def _rotate_half(x: Tensor) -> Tensor:
    """HF LLaMA's ``rotate_half``: ``cat(-x2, x1)`` of the two halves of the last dimension."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def _hf_rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """HF's ``x * cos + rotate_half(x) * sin`` with cos/sin duplicated across halves, computed in float64."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d))
    freqs = positions.to(torch.float64)[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    x64 = x.to(torch.float64)
    return x64 * emb.cos() + _rotate_half(x64) * emb.sin()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_half_layout_matches_hf_formulation(dtype: torch.dtype, device: torch.device) -> None:
    """``rope(..., layout="half")`` and the cached module equal HF's rotate_half formulation."""
    generator = torch.Generator().manual_seed(10)
    x = torch.randn(2, 3, 7, 16, generator=generator, dtype=dtype).to(device)
    positions = torch.randint(0, 64, (2, 1, 7), generator=generator).to(device)
    expected = _hf_rope(x, positions, 10000.0).to(dtype)
    torch.testing.assert_close(rope(x, positions, 10000.0, layout="half"), expected)
    cached = RotaryPositionalEmbedding(10000.0, 16, 64, layout="half", device=device)
    torch.testing.assert_close(cached(x, positions), expected)
    # The interleaved layout is a different function of the same x, so this comparison can fail.
    assert not torch.allclose(rope(x, positions, 10000.0, layout="interleaved"), expected)
