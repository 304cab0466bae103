"""Ignored token_positions and always rotated by positions 0 … seq-1.

Right whenever the caller passes arange(seq), as the course's test does.
"""

import torch

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def positions(self, token_positions, seq, x):
        return torch.arange(seq, device=x.device)


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
