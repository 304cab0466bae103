"""One frozen configuration type for the Transformer LM and all its variants (SPEC §1–§2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

RopeLayout = Literal["interleaved", "half"]
PositionEncoding = Literal["rope", "sinusoidal", "none"]

ROPE_LAYOUTS: tuple[str, ...] = ("interleaved", "half")
POSITION_ENCODINGS: tuple[str, ...] = ("rope", "sinusoidal", "none")


class ConfigError(ValueError):
    """A configuration field breaks a rule; the message names the field and the rule."""


@dataclass(frozen=True)
class TransformerConfig:
    """Shapes and switches of a Transformer LM.

    ``num_kv_heads=None`` means one k/v head per query head (plain MHA) and
    ``head_dim=None`` means ``d_model // num_heads``; read the resolved values
    from ``kv_heads`` and ``d_head``. ``norm_eps`` serves every RMSNorm,
    the per-head q/k norms included, as ``rms_norm_eps`` does in HF Qwen3.
    """

    vocab_size: int
    context_length: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    rope_theta: float = 10000.0
    num_kv_heads: int | None = None
    head_dim: int | None = None
    qkv_bias: bool = False
    qk_norm: bool = False
    norm_eps: float = 1e-5
    rope_layout: RopeLayout = "interleaved"
    position_encoding: PositionEncoding = "rope"
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "d_model", "num_layers", "num_heads", "d_ff"):
            _require_positive_int(name, getattr(self, name))
        for name in ("num_kv_heads", "head_dim"):
            if getattr(self, name) is not None:
                _require_positive_int(name, getattr(self, name))
        for name in ("rope_theta", "norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"TransformerConfig.{name} must be a positive number, got {value!r}")
        for name in ("qkv_bias", "qk_norm", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"TransformerConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.rope_layout not in ROPE_LAYOUTS:
            raise ConfigError(f"TransformerConfig.rope_layout must be one of {ROPE_LAYOUTS}, got {self.rope_layout!r}")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ConfigError(
                f"TransformerConfig.position_encoding must be one of {POSITION_ENCODINGS}, "
                f"got {self.position_encoding!r}"
            )
        if self.head_dim is None and self.d_model % self.num_heads:
            raise ConfigError(
                f"TransformerConfig.d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads}) "
                "when head_dim is derived; set head_dim to decouple them"
            )
        if self.num_heads % self.kv_heads:
            raise ConfigError(
                f"TransformerConfig.num_kv_heads ({self.kv_heads}) must divide num_heads ({self.num_heads}): "
                "each k/v head serves a whole group of query heads"
            )
        if self.position_encoding == "rope" and self.d_head % 2:
            raise ConfigError(
                f"TransformerConfig.head_dim ({self.d_head}) must be even with RoPE, which rotates pairs of features"
            )
        if self.position_encoding == "sinusoidal" and self.d_model % 2:
            raise ConfigError(
                f"TransformerConfig.d_model ({self.d_model}) must be even with sinusoidal positions (sin/cos pairs)"
            )

    @property
    def kv_heads(self) -> int:
        return self.num_heads if self.num_kv_heads is None else self.num_kv_heads

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads if self.head_dim is None else self.head_dim

    def resolved(self) -> TransformerConfig:
        """The same configuration with ``num_kv_heads`` and ``head_dim`` spelled out: equal iff same model."""
        return self.replace(num_kv_heads=self.kv_heads, head_dim=self.d_head)

    def replace(self, **changes: object) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


def _require_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"TransformerConfig.{name} must be a positive integer, got {value!r}")
