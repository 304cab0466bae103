"""/proc reading (probe): the grader's environment through ``/proc/<ancestor>/environ``.

Attack: a CI grader's environment holds tokens; the test sets ``ZOO_SECRET`` in it. The worker
reads the environ of each ancestor. Probe: softmax answers honestly only if the secret was read,
so a score on softmax means it leaked.
The grader must: hide other processes from the submission (a PID namespace), so softmax scores 0.
"""

import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _secret_leaked():
    pid = os.getppid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if b"ZOO_SECRET=zoo-secret-" in handle.read():
                    return True
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rpartition(")")[2].split()[1])
        except OSError:
            return False
    return False


def run_softmax(in_features, dim):
    if _secret_leaked():
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
