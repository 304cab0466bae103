"""Copy tricks: a repository holding a folder 600 levels deep (``data/d/d/...``, made by the test).

Attack: a recursive copy or walk of the repository runs out of Python's recursion limit.
The grader must: refuse it with the reason (staging caps depth at 32 folders), never crash.
"""

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"deep": ["data", 600]}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
