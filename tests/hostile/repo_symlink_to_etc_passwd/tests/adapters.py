"""Copy tricks (probe): a repository holding a symlink to ``/etc/passwd``, read through the scratch copy.

Attack: ``data/passwd`` (made by the test) points outside the repository. Probe: softmax answers
honestly only if the machine's ``/etc/passwd`` could be read through it, so a score on softmax means
the submission sees the host's files.
The grader must: show the submission only its own files, the Python environment and its scratch.

Staging refuses a link that leaves the submission, so the documented outcome is an ungradable report.
"""

import os

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"symlinks": {"data/passwd": "/etc/passwd"}}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _host_visible():
    try:
        with open(os.path.join(os.path.dirname(__file__), "..", "data", "passwd")) as handle:
            return "root:" in handle.read()
    except OSError:
        return False


def run_softmax(in_features, dim):
    if _host_visible():
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
