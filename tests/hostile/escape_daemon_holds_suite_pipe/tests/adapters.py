"""Process escape and deadline: a detached process keeps the pytest child's stdout pipe open forever.

Attack: the worker opens every pipe the pytest child writes to (its stdout, kept on another fd while
pytest captures fd 1) through ``/proc/<pytest child>/fd`` relative to a directory fd (which the
audit hook resolves against the scratch) and hands them to a ``sleep`` started with
``_posixsubprocess.fork_exec`` in a session of its own. The grader reads the suite's records
until end-of-file, which never comes while the sleep holds a write end.
The grader must: finish (within its suite deadline) and report, and leave no process behind.
"""

import _posixsubprocess
import contextlib
import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _parent_write_pipes(parent):
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            mine.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    for fd in os.listdir(f"/proc/{parent}/fd"):
        try:
            target = os.readlink(f"/proc/{parent}/fd/{fd}")
            with open(f"/proc/{parent}/fdinfo/{fd}") as info:
                flags = int(info.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        if target.startswith("pipe:") and target not in mine and flags & os.O_ACCMODE == os.O_WRONLY:
            yield fd


def _hold_parent_stdout():
    parent = os.getppid()
    with open(f"/proc/{parent}/cmdline", "rb") as handle:
        if b"pytest" not in handle.read():
            return
    fds = os.open(f"/proc/{parent}/fd", os.O_RDONLY)
    held = tuple(sorted(os.open(fd, os.O_WRONLY, dir_fd=fds) for fd in _parent_write_pipes(parent)))
    read, write = os.pipe()
    _posixsubprocess.fork_exec(
        ["sleep", "600"], [b"/bin/sleep", b"/usr/bin/sleep"], True, held, None, None,
        -1, -1, -1, -1, -1, -1, read, write, False, True, -1, None, None, None, -1, None, False,
    )  # fmt: skip


with contextlib.suppress(Exception):
    _hold_parent_stdout()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
