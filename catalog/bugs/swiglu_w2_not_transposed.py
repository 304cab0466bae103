"""Transposed W1 and W3 but guessed W2's orientation from its shape.

A square W2 (d_ff = d_model) is used untransposed.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features):
    a = in_features @ w1_weight.T
    hidden = a * torch.sigmoid(a) * (in_features @ w3_weight.T)
    w2 = w2_weight if w2_weight.shape[0] == hidden.shape[-1] else w2_weight.T
    return hidden @ w2
