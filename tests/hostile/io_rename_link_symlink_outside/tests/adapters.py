"""fd I/O: ``os.rename`` / ``os.link`` / ``os.symlink`` with a destination outside the scratch.

Attack: the hook checks only the first path of these events (the source, inside the scratch); the
destination is anywhere. A file written in the scratch is renamed, hard-linked and symlinked to
/tmp/zoo-marker-<name>-{rename,link,symlink}.
The grader must: keep every new name inside the scratch (the OS boundary), so no marker exists.
"""

import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "io_rename_link_symlink_outside"


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


for _how, _move in (("rename", os.rename), ("link", os.link), ("symlink", os.symlink)):
    try:
        _source = os.path.abspath(f"planted-{_how}")
        with open(_source, "w") as _handle:
            _handle.write("written past the sandbox\n")
        _move(_source, f"/tmp/zoo-marker-{NAME}-{_how}")
    except OSError:
        pass


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
