"""C++ I/O: write files outside the scratch with ``torch.save`` and ``torch.from_file(shared=True)``.

Attack: torch opens files in C++ (the zip writer, the shared mmap), so the Python audit hook never
sees them. Markers go to /tmp and to the grader's checkout.
The grader must: keep every write inside the scratch (the OS boundary), so no marker exists.
"""

import contextlib
import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "io_torch_writes_outside"


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


for _write in (
    lambda: torch.save({"pwned": True}, f"/tmp/zoo-marker-{NAME}-save"),
    lambda: torch.save({"pwned": True}, f"{_grader_root()}/zoo-marker-{NAME}-save"),
    lambda: torch.from_file(f"/tmp/zoo-marker-{NAME}-mmap", shared=True, size=64, dtype=torch.uint8).fill_(33),
):
    with contextlib.suppress(Exception):
        _write()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
