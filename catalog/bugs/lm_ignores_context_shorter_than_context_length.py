"""Rotated with positions arange(context_length), assuming every input fills the whole context.

Any sequence shorter than context_length crashes in RoPE; SPEC §1: seq may be shorter than context_length.
"""

import torch

from reference.adapters import *  # noqa: F403
from reference.adapters import (
    run_embedding,
    run_linear,
    run_multihead_self_attention_with_rope,
    run_rmsnorm,
    run_swiglu,
)


def run_transformer_lm(
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, weights, in_indices
):
    positions = torch.arange(context_length, device=in_indices.device)
    x = run_embedding(vocab_size, d_model, weights["token_embeddings.weight"], in_indices)
    for i in range(num_layers):
        w = {key[len(f"layers.{i}.") :]: value for key, value in weights.items() if key.startswith(f"layers.{i}.")}
        h = run_rmsnorm(d_model, 1e-5, w["ln1.weight"], x)
        x = x + run_multihead_self_attention_with_rope(
            d_model,
            num_heads,
            context_length,
            rope_theta,
            w["attn.q_proj.weight"],
            w["attn.k_proj.weight"],
            w["attn.v_proj.weight"],
            w["attn.output_proj.weight"],
            h,
            positions,
        )
        h = run_rmsnorm(d_model, 1e-5, w["ln2.weight"], x)
        x = x + run_swiglu(d_model, d_ff, w["ffn.w1.weight"], w["ffn.w2.weight"], w["ffn.w3.weight"], h)
    x = run_rmsnorm(d_model, 1e-5, weights["ln_final.weight"], x)
    return run_linear(d_model, vocab_size, weights["lm_head.weight"], x)
