"""Gated with sigmoid(W1 x), the original GLU, instead of SiLU(W1 x)."""

import torch

from reference.adapters import *  # noqa: F403


def run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features):
    gate = torch.sigmoid(in_features @ w1_weight.T)
    return (gate * (in_features @ w3_weight.T)) @ w2_weight.T
