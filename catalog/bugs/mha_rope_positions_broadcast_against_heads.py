"""Passed (batch, seq) positions to RoPE on (batch, heads, seq, d_k) without a head axis.

The positions' batch axis then lines up with the heads: it crashes when batch and heads differ (and
neither is 1) and silently gives example b's tokens the positions of row h when they are equal.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def head_positions(self, positions, seq):
        return positions


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
