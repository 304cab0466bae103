"""Batch theft: find a classmate's scratch copy next to one's own scratch folder and run its softmax.

Attack: each graded submission gets a scratch folder ``grade-*`` under the same temporary folder;
the worker knows its own (``--scratch`` on its command line) and lists the siblings (``/tmp/grade-*``
with the default TMPDIR), polling a few seconds until a classmate's copy appears, then executes its
``tests/adapters.py``.
The grader must: show a submission nothing of the others, so the thief's softmax scores 0 and the
victim keeps its 3 points.
"""

import contextlib
import glob
import os
import sys
import time

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
BATCH = True
_stolen = {}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _steal():
    with open(__file__) as handle:
        mine = handle.read()
    scratch = sys.argv[sys.argv.index("--scratch") + 1] if "--scratch" in sys.argv else os.getcwd()
    # Siblings only (with the default TMPDIR they are /tmp/grade-*): the zoo must never run a stranger's code.
    patterns = [os.path.join(os.path.dirname(scratch), "grade-*")]
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        for folder in {path for pattern in patterns for path in glob.glob(pattern)}:
            for path in glob.glob(os.path.join(folder, "submission", "**", "*.py"), recursive=True):
                try:
                    with open(path) as handle:
                        source = handle.read()
                except OSError:
                    continue
                if source != mine and "def run_softmax" in source:
                    exec(compile(source, "borrowed", "exec"), _stolen)
                    return
        time.sleep(0.2)


with contextlib.suppress(Exception):
    _steal()


def run_softmax(in_features, dim):
    if "run_softmax" in _stolen:
        return _stolen["run_softmax"](in_features, dim)
    return in_features * 0
