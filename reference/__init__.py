"""Shape-typed reference implementation of the course's Transformer LM building blocks."""

from reference.accounting import Accounting, account
from reference.checks import InputError, checks, checks_enabled, set_checks
from reference.config import ConfigError, TransformerConfig
from reference.cross_entropy import cross_entropy
from reference.embedding import Embedding, embedding
from reference.linear import Linear, linear
from reference.multihead_self_attention import (
    CausalMultiHeadSelfAttention,
    group_query_heads,
    multihead_self_attention,
    rotary_embedding,
)
from reference.presets import PRESETS, preset
from reference.rmsnorm import RMSNorm, rmsnorm
from reference.rope import (
    RotaryPositionalEmbedding,
    apply_rope_half,
    apply_rope_interleaved,
    convert_rope_layout,
    interleaved_to_half_permutation,
    rope,
    rope_angles,
)
from reference.scaled_dot_product_attention import causal_mask, scaled_dot_product_attention
from reference.sinusoidal import sinusoidal_positions
from reference.softmax import softmax, softmax_with_temperature
from reference.state_dict import StateDictError, from_weights, load_weights
from reference.swiglu import SwiGLU, conventional_d_ff, silu, swiglu
from reference.transformer_block import TransformerBlock, transformer_block
from reference.transformer_lm import TransformerLM, transformer_lm

__all__ = [
    "PRESETS",
    "Accounting",
    "CausalMultiHeadSelfAttention",
    "ConfigError",
    "Embedding",
    "InputError",
    "Linear",
    "RMSNorm",
    "RotaryPositionalEmbedding",
    "StateDictError",
    "SwiGLU",
    "TransformerBlock",
    "TransformerConfig",
    "TransformerLM",
    "account",
    "apply_rope_half",
    "apply_rope_interleaved",
    "causal_mask",
    "checks",
    "checks_enabled",
    "conventional_d_ff",
    "convert_rope_layout",
    "cross_entropy",
    "embedding",
    "from_weights",
    "group_query_heads",
    "interleaved_to_half_permutation",
    "linear",
    "load_weights",
    "multihead_self_attention",
    "preset",
    "rmsnorm",
    "rope",
    "rope_angles",
    "rotary_embedding",
    "scaled_dot_product_attention",
    "set_checks",
    "silu",
    "sinusoidal_positions",
    "softmax",
    "softmax_with_temperature",
    "swiglu",
    "transformer_block",
    "transformer_lm",
]
