"""Folded 1/sqrt(d_k) into the query projection with q_proj_weight.div_(...), changing the caller's weights.

The output is right on the first call; the caller's q_proj_weight is scaled down every time.
"""

import math

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def __call__(self, weights, x, rope=None):
        weights[0].div_(math.sqrt(self.d_k))
        return super().__call__(weights, x, rope)

    def scores(self, q, k):
        return q @ k.transpose(-1, -2)


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
