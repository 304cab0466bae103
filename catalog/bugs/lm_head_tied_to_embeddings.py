"""Used token_embeddings.weight as the output projection, assuming tied embeddings; lm_head.weight is ignored.

The course's model has an untied lm_head (SPEC §2: tying is a variant).
"""

from reference.adapters import *  # noqa: F403
from reference.adapters import run_embedding, run_linear, run_rmsnorm, run_transformer_block


def run_transformer_lm(
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, weights, in_indices
):
    x = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for i in range(num_layers):
        prefix = f"layers.{i}."
        layer = {key[len(prefix) :]: value for key, value in weights.items() if key.startswith(prefix)}
        x = run_transformer_block(d_model, num_heads, d_ff, context_length, rope_theta, layer, x)
    x = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    return run_linear(d_model, vocab_size, weights["token_embeddings.weight"], x)
