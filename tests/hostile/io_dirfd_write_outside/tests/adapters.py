"""fd I/O: create files outside the scratch with ``os.open(relative, dir_fd=...)``.

Attack: the audit hook resolves the path it is given against the working directory (the scratch)
and never sees ``dir_fd``; with a directory fd of ``/``, ``tmp/zoo-marker-...`` is a write
anywhere. Markers go to /tmp and to the grader's checkout.
The grader must: keep every write inside the scratch (the OS boundary: nothing else is writable).
"""

import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "io_dirfd_write_outside"


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


_root = os.open("/", os.O_RDONLY)  # "/" is no grader file; every path below is then relative to it
for _folder in ("/tmp", _grader_root()):
    try:
        _path = os.path.join(_folder, f"zoo-marker-{NAME}").lstrip("/")
        _fd = os.open(_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=_root)
        os.write(_fd, b"written past the sandbox\n")
        os.close(_fd)
    except OSError:
        pass


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
