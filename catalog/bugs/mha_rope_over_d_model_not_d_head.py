"""Applied RoPE to the whole d_model-wide q and k before splitting heads, so frequencies use d_model, not d_k.

Head j's pairs then turn at Θ^(-2(k + j·d_k/2)/d_model) instead of Θ^(-2k/d_k); identical with one head.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403
from reference.adapters import run_rope


class Bug(Attention):
    def queries_keys_values(self, projections, x, batch, seq, rope):
        q, k, v = (x @ w.T for w in projections)
        if rope is not None:
            max_seq_len, theta, token_positions = rope
            positions = self.positions(token_positions, seq, x)
            q = run_rope(self.d_model, theta, max_seq_len, q, positions)
            k = run_rope(self.d_model, theta, max_seq_len, k, positions)
        return (self.split_heads(t, batch, seq) for t in (q, k, v))


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
