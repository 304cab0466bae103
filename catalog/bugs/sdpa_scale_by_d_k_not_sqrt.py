"""Divided the scores by d_k instead of √d_k.

Right only for d_k = 1; the softmax is too flat for any larger head.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / Q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V
