"""The block's attention masks the future after softmax, by multiplying with a lower-triangular matrix and
renormalising with a detached sum.

Its outputs are causal; its gradient is not: later inputs get gradient from earlier outputs.
"""

from catalog.bugs._mask_after_softmax import MaskAfterSoftmax
from catalog.bugs._multihead_self_attention import adapters
from reference.adapters import *  # noqa: F403
from reference.adapters import run_rmsnorm, run_swiglu

_, attention_with_rope = adapters(MaskAfterSoftmax)


def run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features):
    x = in_features
    projections = [weights[f"attn.{name}.weight"] for name in ("q_proj", "k_proj", "v_proj", "output_proj")]
    normed = run_rmsnorm(d_model, 1e-5, weights["ln1.weight"], x)
    y = x + attention_with_rope(d_model, num_heads, max_seq_len, theta, *projections, normed)
    ffn = [weights[f"ffn.{name}.weight"] for name in ("w1", "w2", "w3")]
    return y + run_swiglu(d_model, d_ff, *ffn, run_rmsnorm(d_model, 1e-5, weights["ln2.weight"], y))
