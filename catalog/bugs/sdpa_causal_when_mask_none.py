"""Applied a causal mask whenever mask is None, as if "no mask" meant "decoder attention".

SPEC §4: mask=None is no masking at all; the causal mask is multi-head attention's business.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    n, m = Q.shape[-2], K.shape[-2]
    if mask is None:
        mask = torch.ones(n, m, dtype=torch.bool, device=Q.device).tril()
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ V
