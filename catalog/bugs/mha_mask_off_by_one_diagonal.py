"""Built the causal mask with tril(diagonal=1), so query i also sees key i + 1.

An off-by-one in the diagonal argument: the mask keeps one position too many.
"""

import torch

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def causal_mask(self, scores, seq):
        future = ~torch.tril(torch.ones(seq, seq, dtype=torch.bool, device=scores.device), diagonal=1)
        return scores.masked_fill(future, float("-inf"))


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
