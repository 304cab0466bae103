"""Amplification, memory bomb (probe): allocate and touch 6 GiB in the worker.

Attack: one bytearray of 6 GiB, zero-filled (every page touched). Probe: softmax answers honestly
only if the allocation succeeded, so a score on softmax means the memory limit (4 GiB today, an
address-space rlimit) did not hold.
The grader must: cap the submission's memory, so softmax scores 0 and the machine is unharmed.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_outcome = []


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    if not _outcome:
        try:
            hog = bytearray(6 << 30)
            _outcome.append(len(hog) == 6 << 30)
            del hog
        except MemoryError:
            _outcome.append(False)
    if _outcome[0]:
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
