"""Folded heads into the batch as (batch·heads) but unfolded them as (heads·batch), mixing examples.

Invisible with batch size 1 or a single head, which is all the course's snapshot uses.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def merge_heads(self, out, batch, seq):
        # (batch, heads, seq, d_k) -> (heads, batch, seq, d_k) -> concatenate heads
        return out.reshape(self.num_heads, *batch, seq, self.d_k).movedim(0, -2).reshape(*batch, seq, self.d_model)


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
