"""Never masked the future: every query attends every key, later ones included.

The course's test inputs are fixed snapshots, so forgetting the mask only shows as a numeric mismatch.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def causal_mask(self, scores, seq):
        return scores


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
