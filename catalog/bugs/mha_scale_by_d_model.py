"""Scaled the scores by 1/sqrt(d_model) instead of 1/sqrt(d_k).

The same thing with one head; too flat a softmax with several.
"""

import math

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def scores(self, q, k):
        return q @ k.transpose(-1, -2) / math.sqrt(self.d_model)


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
