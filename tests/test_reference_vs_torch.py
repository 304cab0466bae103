"""Independent anchors: each reference component against PyTorch's own op or a formulation written out here.

None of the expected values go through the reference's code path. Agreement is
judged with ``torch.testing.assert_close`` defaults per dtype (SPEC §5): float64
≈ 1e-7, float32 ≈ 1.3e-6 relative.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from reference import (
    CausalMultiHeadSelfAttention,
    RotaryPositionalEmbedding,
    TransformerConfig,
    cross_entropy,
    embedding,
    linear,
    load_weights,
    rmsnorm,
    rope,
    scaled_dot_product_attention,
    silu,
    sinusoidal_positions,
    softmax,
)

DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])


def _randn(*shape: int, seed: int, dtype: torch.dtype, device: torch.device, scale: float = 1.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=generator, dtype=torch.float64) * scale).to(device=device, dtype=dtype)


def _torch_sdpa(q: Tensor, k: Tensor, v: Tensor, **kwargs: object) -> Tensor:
    # The math backend is the definition written as code; fused kernels on a GPU round differently.
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, **kwargs)


@DTYPES
def test_linear_vs_torch(dtype: torch.dtype, device: torch.device) -> None:
    """``linear(x, W) == F.linear(x, W)``: ``y = x Wᵀ`` with W stored ``(d_out, d_in)``."""
    x = _randn(2, 3, 5, 16, seed=0, dtype=dtype, device=device)
    weight = _randn(24, 16, seed=1, dtype=dtype, device=device)
    torch.testing.assert_close(linear(x, weight), F.linear(x, weight))


@DTYPES
@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("shift", [0.0, 1000.0], ids=["plain", "plus-1000"])
def test_softmax_vs_torch(dtype: torch.dtype, dim: int, shift: float, device: torch.device) -> None:
    """softmax equals torch.softmax along any dim, also for inputs shifted by +1000 and with -inf entries."""
    x = _randn(4, 6, 9, seed=2, dtype=dtype, device=device, scale=5.0) + shift
    x[0, 0, :3] = float("-inf")
    x[1, :2, 0] = float("-inf")
    torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim))


@DTYPES
def test_silu_vs_torch(dtype: torch.dtype, device: torch.device) -> None:
    """silu equals F.silu, including large negative and positive inputs."""
    x = _randn(5, 40, seed=3, dtype=dtype, device=device, scale=10.0)
    torch.testing.assert_close(silu(x), F.silu(x))


@DTYPES
def test_rmsnorm_vs_torch(dtype: torch.dtype, device: torch.device) -> None:
    """rmsnorm equals F.rms_norm with the same gain and eps."""
    x = _randn(3, 7, 32, seed=4, dtype=dtype, device=device, scale=3.0)
    gain = 1 + _randn(32, seed=5, dtype=dtype, device=device, scale=0.2)
    torch.testing.assert_close(rmsnorm(x, gain, eps=1e-5), F.rms_norm(x, (32,), gain, eps=1e-5))
    torch.testing.assert_close(rmsnorm(x, gain, eps=1e-6), F.rms_norm(x, (32,), gain, eps=1e-6))


@DTYPES
@pytest.mark.parametrize("leading", [(3,), (2, 3)], ids=["3d", "4d"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "bool-mask"])
def test_sdpa_vs_torch(dtype: torch.dtype, leading: tuple[int, ...], masked: bool, device: torch.device) -> None:
    """Scaled dot-product attention equals F.scaled_dot_product_attention; mask True means attend."""
    q = _randn(*leading, 5, 8, seed=6, dtype=dtype, device=device)
    k = _randn(*leading, 7, 8, seed=7, dtype=dtype, device=device)
    v = _randn(*leading, 7, 6, seed=8, dtype=dtype, device=device)
    mask = None
    if masked:
        generator = torch.Generator().manual_seed(9)
        mask = (torch.rand(*leading, 5, 7, generator=generator) > 0.4).to(device)
        mask[..., 2] = True  # no query loses every key
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask), _torch_sdpa(q, k, v, attn_mask=mask))


@DTYPES
def test_sdpa_broadcast_mask_vs_torch(dtype: torch.dtype, device: torch.device) -> None:
    """A ``(n, m)`` causal mask broadcasts over 4-D inputs like F.sdpa's is_causal."""
    q, k, v = (_randn(2, 3, 6, 8, seed=s, dtype=dtype, device=device) for s in (10, 11, 12))
    mask = torch.ones(6, 6, dtype=torch.bool, device=device).tril()
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask), _torch_sdpa(q, k, v, is_causal=True))


@DTYPES
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["logits", "logits-x1000"])
def test_cross_entropy_vs_torch(dtype: torch.dtype, scale: float, device: torch.device) -> None:
    """cross_entropy equals F.cross_entropy (mean reduction), also for logits ×1000."""
    logits = _randn(4, 6, 50, seed=13, dtype=dtype, device=device, scale=scale)
    targets = torch.randint(0, 50, (4, 6), generator=torch.Generator().manual_seed(14)).to(device)
    expected = F.cross_entropy(logits.reshape(-1, 50), targets.reshape(-1))
    observed = cross_entropy(logits, targets)
    assert torch.isfinite(observed)
    torch.testing.assert_close(observed, expected)


@DTYPES
def test_embedding_vs_torch(dtype: torch.dtype, device: torch.device) -> None:
    """embedding equals F.embedding for int64 and int32 ids of any shape."""
    weight = _randn(30, 8, seed=15, dtype=dtype, device=device)
    ids = torch.randint(0, 30, (2, 3, 5), generator=torch.Generator().manual_seed(16)).to(device)
    torch.testing.assert_close(embedding(ids, weight), F.embedding(ids, weight))
    torch.testing.assert_close(embedding(ids.int(), weight), F.embedding(ids, weight))


def _complex_rope(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """Meta's formulation: pair ``(x[2k], x[2k+1])`` as a complex number, multiply by ``e^{i·p·Θ^(-2k/d)}``.

    Computed in float64 and returned in x's dtype.
    """
    d = x.shape[-1]
    angles = positions.to(torch.float64)[..., None] * theta ** (
        -torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d
    )
    rotation = torch.polar(torch.ones_like(angles), angles)
    pairs = torch.view_as_complex(x.to(torch.float64).unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)


@DTYPES
@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope_interleaved_vs_complex(dtype: torch.dtype, theta: float, device: torch.device) -> None:
    """Interleaved RoPE (functional and cached module) equals complex multiplication by torch.polar."""
    x = _randn(2, 3, 9, 16, seed=17, dtype=dtype, device=device)
    positions = torch.randint(0, 64, (2, 1, 9), generator=torch.Generator().manual_seed(18)).to(device)
    expected = _complex_rope(x, positions, theta)
    torch.testing.assert_close(rope(x, positions, theta), expected)
    module = RotaryPositionalEmbedding(theta, 16, 64, device=device)
    torch.testing.assert_close(module(x, positions), expected)


def _hand_written_causal_mha(
    x: Tensor, weights: dict[str, Tensor], num_heads: int, positions: Tensor | None, theta: float
) -> Tensor:
    """Causal multi-head attention the way one would write it by hand, with F.sdpa(is_causal=True)."""

    def heads(t: Tensor) -> Tensor:  # (batch, seq, h·d) -> (batch, h, seq, d)
        return t.unflatten(-1, (num_heads, -1)).transpose(1, 2)

    q, k, v = (heads(x @ weights[f"{name}.weight"].T) for name in ("q_proj", "k_proj", "v_proj"))
    if positions is not None:
        q, k = _complex_rope(q, positions[:, None, :], theta), _complex_rope(k, positions[:, None, :], theta)
    out = _torch_sdpa(q, k, v, is_causal=True)
    return out.transpose(1, 2).flatten(-2) @ weights["output_proj.weight"].T


@DTYPES
@pytest.mark.parametrize("with_rope", [True, False], ids=["rope", "no-rope"])
def test_causal_mha_vs_hand_written(dtype: torch.dtype, with_rope: bool, device: torch.device) -> None:
    """Causal MHA (with RoPE at per-example positions, or without) equals a hand-written F.sdpa version."""
    config = TransformerConfig(
        vocab_size=1,
        context_length=32,
        d_model=32,
        num_layers=1,
        num_heads=4,
        d_ff=1,
        position_encoding="rope" if with_rope else "none",
    )
    weights = {
        f"{name}.weight": _randn(32, 32, seed=19 + i, dtype=dtype, device=device, scale=32**-0.5)
        for i, name in enumerate(("q_proj", "k_proj", "v_proj", "output_proj"))
    }
    module = load_weights(CausalMultiHeadSelfAttention(config, device=device, dtype=dtype), weights)
    x = _randn(3, 10, 32, seed=23, dtype=dtype, device=device)
    generator = torch.Generator().manual_seed(24)
    positions = torch.stack([torch.randperm(32, generator=generator)[:10] for _ in range(3)]).to(device)
    expected = _hand_written_causal_mha(x, weights, 4, positions if with_rope else None, config.rope_theta)
    torch.testing.assert_close(module(x, positions), expected)


@DTYPES
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="plain"),
        pytest.param({"qkv_bias": True, "qk_norm": True}, id="bias-and-qk-norm"),
        pytest.param({"num_heads": 6, "head_dim": 8}, id="decoupled-head-dim"),
    ],
)
@pytest.mark.parametrize("kv_heads", [1, 2])
def test_gqa_vs_mha_with_repeated_kv(
    dtype: torch.dtype, changes: dict[str, object], kv_heads: int, device: torch.device
) -> None:
    """GQA equals MHA whose k/v weights repeat each k/v head block for every query head of its group."""
    gqa_config = TransformerConfig(
        vocab_size=1, context_length=16, d_model=32, num_layers=1, num_heads=4, d_ff=1
    ).replace(**changes, num_kv_heads=kv_heads)
    mha_config = gqa_config.replace(num_kv_heads=None)
    group, d_head = gqa_config.num_heads // kv_heads, gqa_config.d_head
    template = CausalMultiHeadSelfAttention(gqa_config, dtype=dtype)
    generator = torch.Generator().manual_seed(25)
    weights = {
        key: (torch.randn(value.shape, generator=generator, dtype=torch.float64) * 0.3).to(device=device, dtype=dtype)
        for key, value in template.state_dict().items()
    }

    def repeat_heads(tensor: Tensor, interleave: bool) -> Tensor:
        blocks = tensor.unflatten(0, (kv_heads, d_head))
        repeated = (
            blocks.repeat_interleave(group, dim=0) if interleave else blocks.repeat(group, *[1] * (blocks.dim() - 1))
        )
        return repeated.flatten(0, 1)

    def expanded(interleave: bool) -> dict[str, Tensor]:
        return {
            key: repeat_heads(value, interleave) if key.startswith(("k_proj.", "v_proj.")) else value
            for key, value in weights.items()
        }

    gqa = load_weights(CausalMultiHeadSelfAttention(gqa_config, device=device, dtype=dtype), weights)
    mha = load_weights(CausalMultiHeadSelfAttention(mha_config, device=device, dtype=dtype), expanded(True))
    x = _randn(2, 11, 32, seed=26, dtype=dtype, device=device)
    torch.testing.assert_close(gqa(x), mha(x))
    if kv_heads > 1:
        # Query head j belongs to k/v head j // group, not j % kv_heads: the tiled order must disagree.
        tiled = load_weights(CausalMultiHeadSelfAttention(mha_config, device=device, dtype=dtype), expanded(False))
        assert not torch.allclose(gqa(x), tiled(x))


@pytest.mark.parametrize("base", [10000.0, 100.0])
def test_sinusoidal_vs_double_loop(base: float, device: torch.device) -> None:
    """``PE[p, 2i] = sin(p / base^(2i/d))`` and ``PE[p, 2i+1] = cos(…)``, written as a loop over p and i."""
    d_model, positions = 8, [0, 1, 2, 5, 3, 17]
    expected = torch.empty(len(positions), d_model, dtype=torch.float64)
    for row, p in enumerate(positions):
        for i in range(d_model // 2):
            angle = p / base ** (2 * i / d_model)
            expected[row, 2 * i] = math.sin(angle)
            expected[row, 2 * i + 1] = math.cos(angle)
    observed = sinusoidal_positions(torch.tensor(positions, device=device), d_model, base=base)
    assert observed.dtype == torch.float64
    torch.testing.assert_close(observed, expected.to(device))
