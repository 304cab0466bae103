"""Used the first row of token_positions for every example in the batch.

Right for (seq,) or (1, seq) positions, or when every row is the same.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def head_positions(self, positions, seq):
        return positions.reshape(-1, seq)[0]


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
