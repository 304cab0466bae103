"""Put the SiLU on the W3 (up) projection and multiplied by the W1 projection: gate and up swapped."""

import torch

from reference.adapters import *  # noqa: F403


def run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features):
    up = in_features @ w3_weight.T
    gate = in_features @ w1_weight.T
    return (up * torch.sigmoid(up) * gate) @ w2_weight.T
