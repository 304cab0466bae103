"""Built the mask as an additive bias with torch.zeros(...) (float32 by default), mixing dtypes.

Float64 inputs are fine; float16/bfloat16 scores are promoted to float32 and the final matmul
with V fails on mismatched dtypes.
"""

import math

import torch

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    if mask is not None:
        bias = torch.zeros(mask.shape, device=Q.device).masked_fill(~mask, float("-inf"))
        scores = scores + bias
    return torch.softmax(scores, dim=-1) @ V
