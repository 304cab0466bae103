"""Wrote x * torch.sigmoid(x.data), so SiLU's gradient is sigmoid(x) alone, missing x·σ'(x).

.data hides the second use of x from autograd: the forward is exact, the gradient wrong.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_silu(in_features):
    return in_features * torch.sigmoid(in_features.data)
