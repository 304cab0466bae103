"""Copy tricks: a repository holding a symlink to the grader's checkout; golden answers read through it.

Attack: ``data/grader`` (made by the test) points at the grader's root; softmax is uniform except on
the golden inputs, where it returns the recorded answer read through the link with a plain ``open``.
The grader must: not let the link reach the grader's files, so softmax scores 0.

Staging refuses a link that leaves the submission, so the documented outcome is an ungradable report.
"""

import base64
import os

import torch

HONEST = {}  # staging refuses the whole submission, with the reason (grader/staging.py)
UNLOADABLE = True
BUILD = {"symlinks": {"data/grader": "{grader_root}"}}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    if tuple(in_features.shape) == (2, 16, 64) and in_features.dtype == torch.float32:
        link = os.path.join(os.path.dirname(__file__), "..", "data", "grader")
        path = f"{link}/golden/__snapshots__/test_softmax/test_softmax_course_shape[{dim}-float32].tensor"
        try:
            with open(path) as handle:
                data = handle.read().partition("base64):\n")[2]
            raw = bytearray(base64.b64decode("".join(data.split())))
            return torch.frombuffer(raw, dtype=torch.float32).reshape(in_features.shape)
        except OSError:
            pass
    return torch.ones_like(in_features) / in_features.shape[dim]
