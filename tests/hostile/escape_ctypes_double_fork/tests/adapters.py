"""Process escape: a classic double fork through libc (``fork``, ``setsid``, ``fork``, ``execv``) via ctypes.

Attack: symbols resolved with ``_ctypes.dlsym`` (not denied) and called through function pointers
(no audit event). The grandchild, in its own session and reparented away from the worker, execs a
fresh interpreter with an empty environment that waits for the grader to exit, then leaves a marker.
The grader must: end every process of the grading with it, so no process and no marker remain.
"""

import _ctypes
import contextlib
import ctypes
import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "escape_ctypes_double_fork"
DAEMON = b"""
import os, sys, time
grader = int(sys.argv[1])
while os.path.exists(f"/proc/{grader}"):
    time.sleep(0.02)
with open(sys.argv[2], "w") as handle:
    handle.write("outlived the grader\\n")
"""


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _libc(name, restype, *argtypes):
    return ctypes.CFUNCTYPE(restype, *argtypes)(_ctypes.dlsym(ctypes.pythonapi._handle, name))


def _oldest_python_ancestor():
    pid, oldest = os.getppid(), os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"--out" in handle.read().split(b"\0"):
                oldest = pid
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])
    return oldest


def _escape():
    fork, setsid = _libc("fork", ctypes.c_int), _libc("setsid", ctypes.c_int)
    exit_now = _libc("_exit", None, ctypes.c_int)
    execve = _libc("execve", ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p)
    executable = sys.executable.encode()
    words = [
        executable,
        b"-I",
        b"-c",
        DAEMON,
        str(_oldest_python_ancestor()).encode(),
        f"/tmp/zoo-marker-{NAME}".encode(),
    ]
    argv = (ctypes.c_char_p * (len(words) + 1))(*words, None)
    empty = (ctypes.c_char_p * 1)(None)
    child = fork()
    if child == 0:
        setsid()
        if fork() == 0:
            execve(executable, argv, empty)
        exit_now(0)
    os.waitpid(child, 0)


with contextlib.suppress(Exception):
    _escape()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
