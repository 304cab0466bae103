"""Copy tricks: a repository holding a FIFO (``data/pipe``, made by the test).

Attack: copying the repository opens the FIFO, which blocks forever or raises, depending on the copy.
The grader must: refuse special files with the reason (staging copies regular files only), never hang.
"""

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"fifos": ["data/pipe"]}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
