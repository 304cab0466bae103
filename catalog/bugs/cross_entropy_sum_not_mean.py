"""Summed the per-position losses instead of averaging them."""

import torch

from reference.adapters import *  # noqa: F403


def run_cross_entropy(inputs, targets):
    log_normaliser = torch.logsumexp(inputs, dim=-1)
    target_logits = inputs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return (log_normaliser - target_logits).sum()
