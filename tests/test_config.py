"""TransformerConfig: the presets match SPEC §2, and every invalid configuration fails at construction.

The expected preset table is written out here from SPEC §2 on purpose: deriving
it from ``reference/presets.py`` would make the test agree with any typo there.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from reference import PRESETS, ConfigError, TransformerConfig, preset

# SPEC §2, one row per preset: vocab, d_model, layers, heads, kv heads, head_dim, d_ff, norm eps, rope Θ, extras.
_SPEC_TABLE: dict[str, tuple[int, int, int, int, int, int, int, float, float, frozenset[str]]] = {
    "llama-3.2-1b": (128256, 2048, 16, 32, 8, 64, 8192, 1e-5, 500000.0, frozenset({"tie_embeddings"})),
    "qwen2-style": (151936, 2048, 16, 32, 32, 64, 11008, 1e-6, 10000.0, frozenset({"qkv_bias"})),
    "qwen3-0.6b": (151936, 1024, 28, 16, 8, 128, 3072, 1e-6, 1000000.0, frozenset({"qk_norm", "tie_embeddings"})),
    "gpt2-small": (50257, 768, 12, 12, 12, 64, 3072, 1e-5, 10000.0, frozenset()),
    "gpt2-medium": (50257, 1024, 24, 16, 16, 64, 4096, 1e-5, 10000.0, frozenset()),
    "gpt2-large": (50257, 1280, 36, 20, 20, 64, 5120, 1e-5, 10000.0, frozenset()),
    "gpt2-xl": (50257, 1600, 48, 25, 25, 64, 6400, 1e-5, 10000.0, frozenset()),
    "course-test": (10000, 64, 3, 4, 4, 16, 128, 1e-5, 10000.0, frozenset()),
}
_EXTRAS = ("tie_embeddings", "qkv_bias", "qk_norm")

# The course test model is the one preset whose context length SPEC §2 fixes.
_COURSE_CONTEXT_LENGTH = 16

_BASE = {"vocab_size": 100, "context_length": 16, "d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 128}


def _config(**changes: object) -> TransformerConfig:
    return TransformerConfig(**{**_BASE, **changes})


def test_presets_are_exactly_the_spec_table() -> None:
    """PRESETS holds one entry per SPEC §2 row, no more and no fewer."""
    assert set(PRESETS) == set(_SPEC_TABLE)


@pytest.mark.parametrize("name", sorted(_SPEC_TABLE))
def test_preset_matches_spec_table(name: str) -> None:
    """Every preset has the SPEC §2 shapes, eps, Θ and exactly the listed extras switched on."""
    vocab, d_model, layers, heads, kv_heads, head_dim, d_ff, eps, theta, extras = _SPEC_TABLE[name]
    config = PRESETS[name]
    observed = {
        "vocab_size": config.vocab_size,
        "d_model": config.d_model,
        "num_layers": config.num_layers,
        "num_heads": config.num_heads,
        "kv_heads": config.kv_heads,
        "d_head": config.d_head,
        "d_ff": config.d_ff,
        "extras": frozenset(extra for extra in _EXTRAS if getattr(config, extra)),
    }
    expected = {
        "vocab_size": vocab,
        "d_model": d_model,
        "num_layers": layers,
        "num_heads": heads,
        "kv_heads": kv_heads,
        "d_head": head_dim,
        "d_ff": d_ff,
        "extras": extras,
    }
    assert observed == expected, f"preset {name!r} differs from SPEC §2"
    # eps and Θ are written as decimal literals on both sides; exact equality is intended.
    assert config.norm_eps == eps, f"preset {name!r}: norm_eps {config.norm_eps} != {eps}"
    assert config.rope_theta == theta, f"preset {name!r}: rope_theta {config.rope_theta} != {theta}"
    assert config.position_encoding == "rope"


def test_course_test_preset_context_length() -> None:
    """The course test model has context 16 (SPEC §2)."""
    assert PRESETS["course-test"].context_length == _COURSE_CONTEXT_LENGTH


def test_preset_lookup_by_name_and_unknown_name() -> None:
    """``preset(name)`` returns the table entry; an unknown name lists the known ones."""
    assert preset("qwen3-0.6b") is PRESETS["qwen3-0.6b"]
    with pytest.raises(KeyError, match="course-test"):
        preset("gpt-5")


# (changes, field named in the message, rule named in the message)
_INVALID: dict[str, tuple[dict[str, object], str, str]] = {
    "heads-not-dividing-d_model": ({"d_model": 64, "num_heads": 5}, "d_model", r"divisible by num_heads"),
    "kv-heads-not-dividing-heads": ({"num_heads": 4, "num_kv_heads": 3}, "num_kv_heads", r"must divide num_heads"),
    "kv-heads-more-than-heads": ({"num_heads": 4, "num_kv_heads": 8}, "num_kv_heads", r"must divide num_heads"),
    "odd-derived-head_dim-with-rope": ({"d_model": 12, "num_heads": 4}, "head_dim", r"even with RoPE"),
    "odd-explicit-head_dim-with-rope": ({"head_dim": 15}, "head_dim", r"even with RoPE"),
    "sinusoidal-odd-d_model": (
        {"d_model": 63, "num_heads": 3, "position_encoding": "sinusoidal"},
        "d_model",
        r"even with sinusoidal",
    ),
    "unknown-rope_layout": ({"rope_layout": "neox"}, "rope_layout", r"one of \('interleaved', 'half'\)"),
    "unknown-position_encoding": (
        {"position_encoding": "alibi"},
        "position_encoding",
        r"one of \('rope', 'sinusoidal', 'none'\)",
    ),
    "theta-zero": ({"rope_theta": 0.0}, "rope_theta", r"positive number"),
    "theta-negative": ({"rope_theta": -10000.0}, "rope_theta", r"positive number"),
    "theta-nan": ({"rope_theta": math.nan}, "rope_theta", r"positive number"),
    "theta-string": ({"rope_theta": "10000"}, "rope_theta", r"positive number"),
    "theta-bool": ({"rope_theta": True}, "rope_theta", r"positive number"),
    "eps-zero": ({"norm_eps": 0.0}, "norm_eps", r"positive number"),
    "eps-negative": ({"norm_eps": -1e-5}, "norm_eps", r"positive number"),
    "qkv_bias-not-bool": ({"qkv_bias": 1}, "qkv_bias", r"True or False"),
    "tie_embeddings-not-bool": ({"tie_embeddings": "yes"}, "tie_embeddings", r"True or False"),
    "qk_norm-not-bool": ({"qk_norm": None}, "qk_norm", r"True or False"),
}

_SIZE_FIELDS = (
    "vocab_size",
    "context_length",
    "d_model",
    "num_layers",
    "num_heads",
    "d_ff",
    "num_kv_heads",
    "head_dim",
)
_BAD_SIZES = {"zero": 0, "negative": -4, "float": 4.0, "bool": True, "string": "4"}

for _field in _SIZE_FIELDS:
    for _label, _value in _BAD_SIZES.items():
        _INVALID[f"{_field}-{_label}"] = ({_field: _value}, _field, r"positive integer")


@pytest.mark.parametrize(("changes", "field", "rule"), list(_INVALID.values()), ids=list(_INVALID))
def test_invalid_config_fails_at_construction(changes: dict[str, object], field: str, rule: str) -> None:
    """An invalid configuration raises ConfigError at construction, naming the field and the rule."""
    with pytest.raises(ConfigError) as caught:
        _config(**changes)
    message = str(caught.value)
    assert re.search(rf"\b{field}\b", message), f"message does not name field {field!r}: {message}"
    assert re.search(rule, message), f"message does not state the rule /{rule}/: {message}"


def test_config_error_is_a_value_error() -> None:
    """Callers that catch ValueError for bad arguments also catch ConfigError."""
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("changes", "kv_heads", "d_head"),
    [
        pytest.param({"num_kv_heads": 1}, 1, 16, id="mqa-one-kv-head"),
        pytest.param({"num_kv_heads": 2}, 2, 16, id="gqa-two-groups"),
        pytest.param({"num_kv_heads": None}, 4, 16, id="mha-default-kv-heads"),
        pytest.param(
            {"d_model": 64, "num_heads": 6, "head_dim": 32}, 6, 32, id="decoupled-head_dim-non-dividing-heads"
        ),
        pytest.param({"d_model": 60, "num_heads": 4, "position_encoding": "none"}, 4, 15, id="odd-head_dim-no-rope"),
        pytest.param({"head_dim": 15, "position_encoding": "sinusoidal"}, 4, 15, id="odd-head_dim-sinusoidal"),
        pytest.param({"rope_theta": 500000}, 4, 16, id="integer-theta"),
    ],
)
def test_valid_edge_cases_construct(changes: dict[str, object], kv_heads: int, d_head: int) -> None:
    """Valid edge cases construct and resolve kv_heads / d_head as SPEC §2 describes."""
    config = _config(**changes)
    assert (config.kv_heads, config.d_head) == (kv_heads, d_head)


def test_config_is_frozen() -> None:
    """Assigning to a field of a constructed config raises; it cannot be made invalid after validation."""
    config = _config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_heads = 5  # type: ignore[misc]
    assert config.num_heads == 4


def test_replace_returns_a_new_validated_config() -> None:
    """``replace`` changes the named fields on a copy and leaves the original untouched."""
    config = _config()
    changed = config.replace(num_kv_heads=2, qk_norm=True)
    assert (changed.kv_heads, changed.qk_norm) == (2, True)
    assert (config.kv_heads, config.qk_norm) == (4, False)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"num_heads": 5}, "d_model", id="heads-not-dividing"),
        pytest.param({"num_kv_heads": 3}, "num_kv_heads", id="kv-heads-not-dividing"),
        pytest.param({"rope_theta": -1.0}, "rope_theta", id="negative-theta"),
        pytest.param({"rope_layout": "neox"}, "rope_layout", id="unknown-layout"),
    ],
)
def test_replace_revalidates(changes: dict[str, object], field: str) -> None:
    """``replace`` runs the same validation as construction."""
    with pytest.raises(ConfigError, match=rf"\b{field}\b"):
        _config().replace(**changes)
