"""Took the attention softmax in float32 whatever the input dtype, then cast back.

float64 attention gets float32 accuracy: relative error about 6e-8, inside float64's 1e-7
comparison tolerance, so only laws with an error budget derived for float64 reveal it.
"""

import math

from reference.adapters import *  # noqa: F403


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    shifted = scores - scores.amax(dim=-1, keepdim=True)
    exps = shifted.float().exp()
    weights = (exps / exps.sum(dim=-1, keepdim=True)).to(Q.dtype)
    return weights @ V
