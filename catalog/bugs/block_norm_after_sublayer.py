"""Put each RMSNorm on the sublayer's output instead of its input: y = x + RMSNorm₁(MHA(x)).

A misreading of pre-norm; both sublayers then see the raw residual stream.
"""

from reference.adapters import *  # noqa: F403
from reference.adapters import run_multihead_self_attention_with_rope, run_rmsnorm, run_swiglu


def run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features):
    x = in_features
    h = x
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
    y = x + run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], attn)
    h = y
    ffn = run_swiglu(d_model, d_ff, weights["ffn.w1.weight"], weights["ffn.w2.weight"], weights["ffn.w3.weight"], h)
    return y + run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], ffn)
