"""Forgot the residual connection around the feed-forward sublayer: returns SwiGLU(RMSNorm₂(y)).

The attention sublayer keeps its residual; the block's output loses its input.
"""

from reference.adapters import *  # noqa: F403
from reference.adapters import run_multihead_self_attention_with_rope, run_rmsnorm, run_swiglu


def run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features):
    x = in_features
    h = run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x)
    attn = run_multihead_self_attention_with_rope(
        d_model,
        num_heads,
        max_seq_len,
        theta,
        weights["attn.q_proj.weight"],
        weights["attn.k_proj.weight"],
        weights["attn.v_proj.weight"],
        weights["attn.output_proj.weight"],
        h,
    )
    y = x + attn
    h = run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], y)
    ffn = run_swiglu(d_model, d_ff, weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"], h)
    return ffn
