"""Forgot to divide the scores by √d_k: softmax(QKᵀ) V.

Right only for d_k = 1; for larger heads the softmax is too peaked.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V
