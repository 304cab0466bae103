"""fd I/O baseline: plain ``open()`` of the golden snapshots, the reference source and the rubric.

Attack: the straightforward copy of the answer key: read the recorded golden softmax, the
reference's source, the rubric; use the golden answer when the input is the golden one.
The grader must: refuse all of it (today the audit hook does), so softmax scores 0.
"""

import base64
import os
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


def run_softmax(in_features, dim):
    root = _grader_root()
    for peek in ("reference/softmax.py", "tests/hostile/rubric.toml", "grader/rubrics/default.toml"):
        try:
            with open(os.path.join(root, peek)) as handle:
                handle.read()
        except OSError:
            pass
    if tuple(in_features.shape) == (2, 16, 64) and in_features.dtype == torch.float32:
        path = f"{root}/golden/__snapshots__/test_softmax/test_softmax_course_shape[{dim}-float32].tensor"
        try:
            with open(path) as handle:
                data = handle.read().partition("base64):\n")[2]
            raw = bytearray(base64.b64decode("".join(data.split())))
            return torch.frombuffer(raw, dtype=torch.float32).reshape(in_features.shape)
        except OSError:
            pass
    return torch.ones_like(in_features) / in_features.shape[dim]
