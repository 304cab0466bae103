"""/proc reading (probe): the pytest child's memory through ``/proc/<parent>/mem``.

Attack: the checks' process holds the inputs, the expected tensors and the recorded golden values
in its memory; as the same user the worker may read it. The worker reads a page of each readable
mapping of its parent. Probe: softmax answers honestly only if the parent's memory could be read,
so a score on softmax means it leaked.
The grader must: run the submission as another user in its own PID namespace, so softmax scores 0.
"""

import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _parent_memory_readable():
    parent, read = os.getppid(), 0
    try:
        with open(f"/proc/{parent}/maps") as maps, open(f"/proc/{parent}/mem", "rb") as memory:
            for line in maps:
                span, permissions = line.split()[:2]
                if permissions.startswith("r"):
                    try:
                        memory.seek(int(span.split("-")[0], 16))
                        read += len(memory.read(4096))
                    except (OSError, ValueError, OverflowError):
                        continue
    except OSError:
        return False
    return read > 0


def run_softmax(in_features, dim):
    if _parent_memory_readable():
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
