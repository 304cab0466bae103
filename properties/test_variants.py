"""Laws of the reference-only variants (SPEC §2): grouped-query attention, RoPE layouts, temperature.

The adapter protocol (SPEC §4) has no entry point for these, so they call ``reference`` directly and
skip under ``--impl`` (the ``reference_only`` fixture).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import assert_law
from harness.inputs import linear_weight, make_tensor, norm_gain
from harness.strategies import ALL_FLOATS, WIDE_FLOATS, positions, seeds, shapes, tensors
from reference import TransformerConfig, convert_rope_layout, multihead_self_attention, softmax_with_temperature

MAX_SEQ_LEN = 32


@st.composite
def gqa_configs(draw: st.DrawFn) -> TransformerConfig:
    """Attention configurations with k/v head groups, a head_dim of its own, and the Qwen switches."""
    num_kv_heads = draw(st.integers(1, 2))
    num_heads = num_kv_heads * draw(st.integers(1, 3))
    return TransformerConfig(
        vocab_size=1,
        context_length=MAX_SEQ_LEN,
        d_model=draw(st.integers(2, 12)),
        num_layers=1,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_dim=2 * draw(st.integers(1, 3)),
        d_ff=1,
        rope_theta=draw(st.sampled_from([10000.0, 500.0, 1e6])),
        qkv_bias=draw(st.booleans()),
        qk_norm=draw(st.booleans()),
        position_encoding=draw(st.sampled_from(["rope", "none"])),
    )


def attention_state(seed: int, config: TransformerConfig, dtype, device) -> dict[str, torch.Tensor]:
    """An attention state dict for ``config``: projections at the course's scale, biases and q/k-norm gains."""
    q_width, kv_width = config.num_heads * config.d_head, config.kv_heads * config.d_head
    sizes = {"q_proj": q_width, "k_proj": kv_width, "v_proj": kv_width}
    weights = {
        f"{name}.weight": linear_weight(seed + i, rows, config.d_model, dtype, device)
        for i, (name, rows) in enumerate(sizes.items())
    }
    weights["output_proj.weight"] = linear_weight(seed + 3, config.d_model, q_width, dtype, device)
    if config.qkv_bias:
        weights |= {
            f"{name}.bias": make_tensor(seed + 4 + i, (rows,), dtype, device, scale=0.5)
            for i, (name, rows) in enumerate(sizes.items())
        }
    if config.qk_norm:
        weights |= {
            f"{name}.weight": norm_gain(seed + 8 + i, config.d_head, dtype, device)
            for i, name in enumerate(("q_norm", "k_norm"))
        }
    return weights


def draw_attention_call(data, dtype, device):
    config = data.draw(gqa_configs(), label="config")
    lead = data.draw(shapes(0, 2, 3), label="leading dims")
    seq = data.draw(st.integers(1, 8), label="seq")
    x = data.draw(tensors((*lead, seq, config.d_model), dtype, device), label="x")
    token_positions = data.draw(positions((*lead, seq), MAX_SEQ_LEN, device), label="token_positions")
    weights = attention_state(data.draw(seeds(), label="weights seed"), config, dtype, device)
    return config, x, token_positions, weights


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_gqa_with_as_many_kv_heads_as_heads_is_mha(reference_only, device, dtype, data):
    """num_kv_heads = num_heads is plain multi-head attention (num_kv_heads=None)."""
    config, x, token_positions, _ = draw_attention_call(data, dtype, device)
    config = config.replace(num_kv_heads=config.num_heads)
    weights = attention_state(data.draw(seeds(), label="weights seed"), config, dtype, device)
    assert_law(
        multihead_self_attention(x, weights, config, token_positions),
        multihead_self_attention(x, weights, config.replace(num_kv_heads=None), token_positions),
        f"GQA with num_kv_heads = num_heads = {config.num_heads} equals MHA",
        inputs={"x": x, "token_positions": token_positions, "config": config},
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_gqa_is_mha_with_kv_heads_repeated_per_group(reference_only, device, dtype, data):
    """Query head j uses k/v head j // (num_heads / num_kv_heads): GQA equals MHA whose k/v projections (and
    biases) repeat each k/v head once per query head of its group; the k-norm gain is per head already."""
    config, x, token_positions, weights = draw_attention_call(data, dtype, device)
    group = config.num_heads // config.kv_heads

    def repeat_heads(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.unflatten(0, (config.kv_heads, config.d_head)).repeat_interleave(group, dim=0).flatten(0, 1)

    repeated = {
        key: repeat_heads(value) if key.startswith(("k_proj", "v_proj")) else value for key, value in weights.items()
    }
    assert_law(
        multihead_self_attention(x, weights, config, token_positions),
        multihead_self_attention(x, repeated, config.replace(num_kv_heads=None), token_positions),
        f"GQA with {config.kv_heads} k/v heads for {config.num_heads} query heads = MHA with k/v repeated ×{group}",
        inputs={"x": x, "token_positions": token_positions, "config": config},
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_half_and_interleaved_rope_agree_after_weight_permutation(reference_only, device, dtype, data):
    """Attention in the "half" layout with q/k rows (weights, biases, q/k-norm gains) passed through
    ``convert_rope_layout(…, "interleaved", "half")`` equals attention in the "interleaved" layout."""
    config, x, token_positions, weights = draw_attention_call(data, dtype, device)
    config = config.replace(position_encoding="rope", rope_layout="interleaved")
    rotated = ("q_proj.weight", "k_proj.weight", "q_proj.bias", "k_proj.bias", "q_norm.weight", "k_norm.weight")
    converted = {
        key: convert_rope_layout(value, config.d_head, "interleaved", "half") if key in rotated else value
        for key, value in weights.items()
    }
    assert_law(
        multihead_self_attention(x, converted, config.replace(rope_layout="half"), token_positions),
        multihead_self_attention(x, weights, config, token_positions),
        "half-layout RoPE attention with converted q/k rows equals interleaved-layout attention",
        inputs={"x": x, "token_positions": token_positions, "config": config},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_temperature_one_is_softmax(reference_only, device, dtype, data):
    """softmax_with_temperature(x, T=1) = softmax(x); the truth is float64 softmax of the same x."""
    shape = data.draw(shapes(max_dims=3), label="shape")
    logits = data.draw(tensors(shape, dtype, device, scale=3.0), label="logits")
    assert_law(
        softmax_with_temperature(logits, 1.0),
        torch.softmax(logits.double(), dim=-1),
        "softmax_with_temperature(x, 1) = softmax(x)",
        inputs={"logits": logits},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), temperature=st.sampled_from([1e-3, 1e-4, 1e-6]))
def test_temperature_to_zero_is_argmax_one_hot(reference_only, device, dtype, data, temperature):
    """T → 0 gives the one-hot vector of the argmax (here the maximum leads the runner-up by ≥ 1/8 ≫ T·log n)."""
    shape = data.draw(shapes(max_dims=3), label="shape")
    logits = data.draw(tensors(shape, dtype, device, scale=3.0), label="logits")
    top = logits.argmax(-1, keepdim=True)
    logits = logits.scatter(-1, top, logits.gather(-1, top) + 0.125)
    one_hot = torch.zeros_like(logits, dtype=torch.float64).scatter(-1, top, 1.0)
    assert_law(
        softmax_with_temperature(logits, temperature),
        one_hot,
        f"softmax_with_temperature(x, {temperature:g}) = one_hot(argmax x)",
        inputs={"logits": logits},
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_temperature_to_infinity_is_uniform(reference_only, device, dtype, data):
    """T → ∞ gives the uniform distribution; at T = 1e9 with |x| ≲ 15 each p is 1/n within a relative 1e-8."""
    shape = data.draw(shapes(max_dims=3), label="shape")
    logits = data.draw(tensors(shape, dtype, device, scale=3.0), label="logits")
    assert_law(
        softmax_with_temperature(logits, 1e9),
        torch.full(shape, 1.0 / shape[-1], dtype=torch.float64),
        "softmax_with_temperature(x, 1e9) = 1/n everywhere",
        inputs={"logits": logits},
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), temperature=st.sampled_from([0.25, 0.5, 0.7, 2.0, 3.0]))
def test_temperature_raises_probabilities_to_one_over_t(reference_only, device, dtype, data, temperature):
    """p_T ∝ p^(1/T) with p = softmax(x): the truth is float64 math on the same x."""
    shape = data.draw(shapes(max_dims=3), label="shape")
    logits = data.draw(tensors(shape, dtype, device, scale=3.0), label="logits")
    powered = torch.softmax(logits.double(), dim=-1) ** (1 / temperature)
    assert_law(
        softmax_with_temperature(logits, temperature),
        powered / powered.sum(-1, keepdim=True),
        f"softmax_with_temperature(x, {temperature}) ∝ softmax(x)^(1/{temperature})",
        inputs={"logits": logits},
    )
