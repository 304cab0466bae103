"""Returned sigmoid(x) and forgot to multiply by x."""

import torch

from reference.adapters import *  # noqa: F403


def run_silu(in_features):
    return torch.sigmoid(in_features)
