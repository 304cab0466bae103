"""Applied RoPE to the values as well as to the queries and keys.

RoPE belongs to q and k only; rotated values carry position into the output itself.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403
from reference.adapters import run_rope


class Bug(Attention):
    def rotate(self, q, k, v, theta, max_seq_len, positions):
        return tuple(run_rope(self.d_k, theta, max_seq_len, t, positions) for t in (q, k, v))


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
