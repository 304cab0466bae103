"""Unpacked batch, seq, d = x.shape, so an input without a batch dimension (or with two) fails.

SPEC §4: attention accepts (seq, d), (batch, seq, d) and (b1, b2, seq, d) alike.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def leading(self, x):
        b, seq, _ = x.shape
        return [b], seq


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
