"""Forgot the output projection: returns the concatenated heads.

The shape still comes out (..., seq, d_model) because num_heads · d_k = d_model.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def output(self, out, o_proj_weight):
        return out


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
