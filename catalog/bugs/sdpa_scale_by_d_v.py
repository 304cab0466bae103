"""Divided the scores by √d_v (V.shape[-1]) instead of √d_k.

Indistinguishable whenever d_v = d_k, as in every multi-head attention of the course.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(V.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V
