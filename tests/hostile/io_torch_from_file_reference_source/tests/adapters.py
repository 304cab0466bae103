"""C++ I/O: read the grader's ``reference/softmax.py`` with ``torch.from_file`` and run it as one's own.

Attack: copying the answer key: the reference's source is read in C++ (no audit event), its imports
of the grader's package stripped, and its ``softmax`` executed for every call.
The grader must: keep the grader's source out of the submission's sight, so softmax scores 0.
"""

import os
import re
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


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


_stolen = {}
try:
    _path = os.path.join(_grader_root(), "reference", "softmax.py")
    _source = torch.from_file(_path, size=os.stat(_path).st_size, dtype=torch.uint8).numpy().tobytes().decode()
    _source = re.sub(r"^from reference.*$|^@shape_checked$", "", _source, flags=re.M)
    exec(compile(_source, "my_softmax", "exec"), _stolen)
except Exception:
    pass


def run_softmax(in_features, dim):
    if "softmax" in _stolen:
        return _stolen["softmax"](in_features, dim=dim)
    return in_features * 0
