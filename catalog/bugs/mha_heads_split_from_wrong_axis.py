"""Split heads with view(..., num_heads, seq, d_k) straight from (..., seq, d_model), skipping the transpose.

The memory is laid out (seq, heads, d_k), so each 'head' is a jumble of features from several tokens;
merging back with the mirror-image view hides the shape error.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def split_heads(self, t, batch, seq):
        return t.reshape(*batch, self.num_heads, seq, self.d_k)

    def merge_heads(self, out, batch, seq):
        return out.reshape(*batch, seq, self.d_model)


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
