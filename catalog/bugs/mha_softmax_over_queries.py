"""Took the softmax over the query axis (dim=-2) instead of over the keys.

Each key's column sums to one, and through the normalisation a query sees every later query.
"""

import torch

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def attend(self, scores, v):
        return torch.softmax(scores, dim=-2) @ v


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
