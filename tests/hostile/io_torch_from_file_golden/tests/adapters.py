"""C++ I/O: read the golden snapshots with ``torch.from_file`` and answer the golden checks with them.

Attack: softmax is a uniform distribution (it passes the rubric's laws, not the golden values); for
the golden inputs it reads ``golden/__snapshots__/test_softmax/*[float32].tensor`` with
``torch.from_file``, which opens the file in C++ where the audit hook cannot see it.
The grader must: keep the golden files out of the submission's sight, so softmax scores 0.
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
    if tuple(in_features.shape) == (2, 16, 64) and in_features.dtype == torch.float32:
        path = f"{_grader_root()}/golden/__snapshots__/test_softmax/test_softmax_course_shape[{dim}-float32].tensor"
        try:
            text = torch.from_file(path, size=os.stat(path).st_size, dtype=torch.uint8).numpy().tobytes()
            data = text.partition(b"base64):\n")[2]
            raw = bytearray(base64.b64decode(b"".join(data.split())))
            return torch.frombuffer(raw, dtype=torch.float32).reshape(in_features.shape)
        except Exception:
            pass
    return torch.ones_like(in_features) / in_features.shape[dim]
