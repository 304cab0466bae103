"""State dicts: the course's key names (SPEC §1), the variants' extra keys, tying, and load errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from reference import StateDictError, TransformerConfig, TransformerLM, load_weights

# The course test model (SPEC §2): vocab 10000, d_model 64, 3 layers, 4 heads, d_ff 128, context 16.
COURSE = TransformerConfig(
    vocab_size=10000, context_length=16, d_model=64, num_layers=3, num_heads=4, d_ff=128, rope_theta=10000.0
)

# SPEC §1 state-dict keys of the course test model, written out, with their shapes.
COURSE_KEYS: dict[str, tuple[int, ...]] = {
    "token_embeddings.weight": (10000, 64),
    **{
        key: shape
        for i in range(3)
        for key, shape in {
            f"layers.{i}.attn.q_proj.weight": (64, 64),
            f"layers.{i}.attn.k_proj.weight": (64, 64),
            f"layers.{i}.attn.v_proj.weight": (64, 64),
            f"layers.{i}.attn.output_proj.weight": (64, 64),
            f"layers.{i}.ln1.weight": (64,),
            f"layers.{i}.ln2.weight": (64,),
            f"layers.{i}.ffn.w1.weight": (128, 64),
            f"layers.{i}.ffn.w2.weight": (64, 128),
            f"layers.{i}.ffn.w3.weight": (128, 64),
        }.items()
    },
    "ln_final.weight": (64,),
    "lm_head.weight": (10000, 64),
}

# A one-layer model small enough to build per variant.
SMALL = TransformerConfig(vocab_size=50, context_length=8, d_model=32, num_layers=1, num_heads=4, d_ff=48)
SMALL_KEYS: dict[str, tuple[int, ...]] = {
    "token_embeddings.weight": (50, 32),
    "layers.0.attn.q_proj.weight": (32, 32),
    "layers.0.attn.k_proj.weight": (32, 32),
    "layers.0.attn.v_proj.weight": (32, 32),
    "layers.0.attn.output_proj.weight": (32, 32),
    "layers.0.ln1.weight": (32,),
    "layers.0.ln2.weight": (32,),
    "layers.0.ffn.w1.weight": (48, 32),
    "layers.0.ffn.w2.weight": (32, 48),
    "layers.0.ffn.w3.weight": (48, 32),
    "ln_final.weight": (32,),
    "lm_head.weight": (50, 32),
}


def _build(config: TransformerConfig, seed: int, **factory: object) -> TransformerLM:
    """A model whose own initialisation is deterministic, so a failure reproduces."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TransformerLM(config, **factory)


def _random_weights(model: TransformerLM, seed: int, dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weights = {
        key: torch.randn(value.shape, generator=generator, dtype=dtype or value.dtype)
        for key, value in model.state_dict().items()
    }
    if model.config.tie_embeddings:  # one tied parameter has one value under both names
        weights["lm_head.weight"] = weights["token_embeddings.weight"]
    return weights


def _shapes(model: TransformerLM) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_course_model_keys_and_shapes() -> None:
    """The course test model's state dict has exactly the SPEC §1 keys (no RoPE caches), with their shapes."""
    assert _shapes(_build(COURSE, seed=0)) == COURSE_KEYS


@pytest.mark.parametrize(
    ("changes", "extra", "changed"),
    [
        pytest.param(
            {"qkv_bias": True},
            {
                "layers.0.attn.q_proj.bias": (32,),
                "layers.0.attn.k_proj.bias": (32,),
                "layers.0.attn.v_proj.bias": (32,),
            },
            {},
            id="qkv-bias-no-output-bias",
        ),
        pytest.param(
            {"qk_norm": True, "head_dim": 16},
            {"layers.0.attn.q_norm.weight": (16,), "layers.0.attn.k_norm.weight": (16,)},
            {
                "layers.0.attn.q_proj.weight": (64, 32),
                "layers.0.attn.k_proj.weight": (64, 32),
                "layers.0.attn.v_proj.weight": (64, 32),
                "layers.0.attn.output_proj.weight": (32, 64),
            },
            id="qk-norm-decoupled-head-dim",
        ),
        pytest.param(
            {"num_kv_heads": 2, "qkv_bias": True},
            {
                "layers.0.attn.q_proj.bias": (32,),
                "layers.0.attn.k_proj.bias": (16,),
                "layers.0.attn.v_proj.bias": (16,),
            },
            {"layers.0.attn.k_proj.weight": (16, 32), "layers.0.attn.v_proj.weight": (16, 32)},
            id="gqa-with-bias",
        ),
        pytest.param({"tie_embeddings": True}, {}, {}, id="tied-keeps-both-names"),
        pytest.param({"position_encoding": "sinusoidal"}, {}, {}, id="sinusoidal-no-buffers"),
        pytest.param({"rope_layout": "half"}, {}, {}, id="half-layout-same-keys"),
    ],
)
def test_variant_keys_and_shapes(
    changes: dict[str, object], extra: dict[str, tuple[int, ...]], changed: dict[str, tuple[int, ...]]
) -> None:
    """Each variant adds exactly its own keys (SPEC §2) to the course keys and reshapes only what it must."""
    expected = {**SMALL_KEYS, **changed, **extra}
    assert _shapes(_build(SMALL.replace(**changes), seed=0)) == expected


def test_tied_embeddings_share_one_tensor() -> None:
    """With tie_embeddings, lm_head.weight is the embedding's Parameter object, not a copy."""
    model = _build(SMALL.replace(tie_embeddings=True), seed=0)
    assert model.lm_head.weight is model.token_embeddings.weight
    untied = _build(SMALL, seed=0)
    assert untied.lm_head.weight is not untied.token_embeddings.weight


@pytest.mark.parametrize(
    "given",
    [("token_embeddings.weight",), ("lm_head.weight",), ("token_embeddings.weight", "lm_head.weight")],
    ids=["embedding-name", "lm-head-name", "both-names"],
)
def test_tied_load_accepts_either_or_both_names(given: tuple[str, ...]) -> None:
    """A tied model loads the shared matrix from whichever of its names is present, and stays tied."""
    model = _build(SMALL.replace(tie_embeddings=True), seed=0)
    weights = _random_weights(model, seed=1)
    shared = weights["token_embeddings.weight"]
    weights = {key: value for key, value in weights.items() if key not in {"token_embeddings.weight", "lm_head.weight"}}
    weights.update(dict.fromkeys(given, shared))
    load_weights(model, weights)
    assert model.lm_head.weight is model.token_embeddings.weight
    torch.testing.assert_close(model.token_embeddings.weight.detach(), shared, rtol=0, atol=0)


def test_tied_load_rejects_conflicting_values() -> None:
    """Two different tensors for the two names of one tied parameter are an error naming the key."""
    model = _build(SMALL.replace(tie_embeddings=True), seed=0)
    weights = _random_weights(model, seed=1)
    weights["lm_head.weight"] = weights["token_embeddings.weight"] + 1.0
    with pytest.raises(StateDictError, match=r"lm_head\.weight|token_embeddings\.weight"):
        load_weights(model, weights)


def test_untied_model_needs_both_matrices() -> None:
    """Only tied parameters have aliases: an untied model missing lm_head.weight is an error."""
    model = _build(SMALL, seed=0)
    weights = _random_weights(model, seed=1)
    del weights["lm_head.weight"]
    with pytest.raises(StateDictError, match=r"missing key 'lm_head\.weight'"):
        load_weights(model, weights)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="course-variant"),
        pytest.param({"qkv_bias": True, "qk_norm": True, "num_kv_heads": 2, "tie_embeddings": True}, id="all-variants"),
    ],
)
def test_round_trip_gives_identical_outputs(changes: dict[str, object], device: torch.device) -> None:
    """state_dict → load_weights into a fresh, differently initialised model reproduces the outputs bit for bit."""
    config = SMALL.replace(**changes)
    source = _build(config, seed=0, device=device)
    load_weights(source, {k: v.to(device) for k, v in _random_weights(source, seed=1).items()})
    fresh = _build(config, seed=2, device=device)
    token_ids = torch.randint(0, config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(3)).to(device)
    assert not torch.equal(fresh(token_ids), source(token_ids)), "fresh model already agrees; the test proves nothing"
    load_weights(fresh, source.state_dict())
    torch.testing.assert_close(fresh(token_ids), source(token_ids), rtol=0, atol=0)


def _damage_missing(weights: dict[str, object]) -> None:
    del weights["layers.0.ffn.w2.weight"]


def _damage_extra(weights: dict[str, object]) -> None:
    weights["layers.0.attn.o_proj.weight"] = torch.zeros(32, 32)


def _damage_shape(weights: dict[str, object]) -> None:
    weights["layers.0.ln2.weight"] = torch.ones(33)


def _damage_transposed(weights: dict[str, object]) -> None:
    weights["layers.0.ffn.w1.weight"] = torch.zeros(32, 48)


def _damage_non_tensor(weights: dict[str, object]) -> None:
    weights["ln_final.weight"] = [1.0] * 32


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        pytest.param(_damage_missing, r"missing key 'layers\.0\.ffn\.w2\.weight' \(expected shape \(32, 48\)\)"),
        pytest.param(_damage_extra, r"unexpected key 'layers\.0\.attn\.o_proj\.weight'"),
        pytest.param(_damage_shape, r"key 'layers\.0\.ln2\.weight' has shape \(33,\), expected \(32,\)"),
        pytest.param(_damage_transposed, r"key 'layers\.0\.ffn\.w1\.weight' has shape \(32, 48\), expected \(48, 32\)"),
        pytest.param(_damage_non_tensor, r"key 'ln_final\.weight' holds a list, not a tensor"),
    ],
    ids=["missing", "extra", "mis-shaped", "transposed", "non-tensor"],
)
def test_bad_state_dict_raises_naming_the_key(damage, pattern: str) -> None:
    """A missing, extra, mis-shaped or non-tensor entry raises StateDictError naming the key; nothing is loaded."""
    model = _build(SMALL, seed=0)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    weights: dict[str, object] = dict(_random_weights(model, seed=1))
    damage(weights)
    with pytest.raises(StateDictError, match=pattern):
        load_weights(model, weights)  # type: ignore[arg-type]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"failed load changed {key!r}"


def test_state_dict_error_message_has_no_keyerror_quotes() -> None:
    """StateDictError is a KeyError, but prints its message as written (not repr-quoted)."""
    model = _build(SMALL, seed=0)
    weights = _random_weights(model, seed=1)
    del weights["ln_final.weight"]
    with pytest.raises(KeyError) as caught:
        load_weights(model, weights)
    assert isinstance(caught.value, StateDictError)
    assert str(caught.value).startswith("state dict does not fit TransformerLM: missing key 'ln_final.weight'")


def test_load_casts_float64_weights_into_float32_module() -> None:
    """float64 weights loaded into a float32 module keep the module's dtype and equal the weights rounded once."""
    model = _build(SMALL, seed=0)
    weights = _random_weights(model, seed=1, dtype=torch.float64)
    load_weights(model, weights)
    for key, value in model.state_dict().items():
        assert value.dtype == torch.float32, f"{key!r} became {value.dtype}"
        torch.testing.assert_close(value, weights[key].to(torch.float32), rtol=0, atol=0)
