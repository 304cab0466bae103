"""Zeroed the masked weights after the softmax instead of masking the scores before it.

The remaining weights are never renormalised, so a masked query's weights sum to less than 1.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ V
