"""Copy tricks: a repository holding a 1 GiB file (``data/corpus.txt``, sparse, made by the test).

Attack: every copy of the repository (one per worker) writes a dense gigabyte to the grader's disk.
The grader must: grade it within its deadlines without copying it, or refuse it with a reason (staging
caps a submission at 200 MiB: the documented outcome here is an ungradable report naming the cap).
"""

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"huge_files": {"data/corpus.txt": 1073741824}}  # 1 GiB


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
