"""Masked after softmax by multiplying with the mask, then renormalised with a detached sum.

The forward equals the masked softmax; the gradient still flows to masked keys through the
unmasked softmax's normaliser, and misses the renormalisation's term.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-1, -2) / math.sqrt(Q.shape[-1])
    p = torch.softmax(scores, dim=-1)
    if mask is not None:
        p = p * mask
        p = p / p.sum(dim=-1, keepdim=True).detach()
    return p @ V
