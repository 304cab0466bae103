"""Copy tricks: a repository holding 20,000 small files (``data/f*.txt``, made by the test).

Attack: every copy of the repository (one per worker) costs twenty thousand file creations.
The grader must: refuse it with the reason (staging caps a submission at 5000 files), within its deadlines.
"""

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"many_files": ["data", 20000]}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
