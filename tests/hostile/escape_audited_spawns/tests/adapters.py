"""Process escape baseline: ``os.fork``, ``subprocess.Popen``, ``os.posix_spawn``, ``os.system``, ``pty.fork``.

Attack: each starts a process that leaves /tmp/zoo-marker-<name>-<how> (the forked child after
``os.setsid``, the others by running ``touch``).
The grader must: refuse them or contain them (today the audit hook denies all five), so no marker.
"""

import contextlib
import os
import pty
import subprocess

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "escape_audited_spawns"
MARKER = f"/tmp/zoo-marker-{NAME}"


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _fork(forker, how):
    if forker() == 0:
        try:
            os.setsid()
            os.close(os.open(f"{MARKER}-{how}", os.O_WRONLY | os.O_CREAT))
        finally:
            os._exit(0)


for _spawn in (
    lambda: _fork(os.fork, "fork"),
    lambda: _fork(lambda: pty.fork()[0], "pty-fork"),
    lambda: subprocess.Popen(["touch", f"{MARKER}-popen"], start_new_session=True),
    lambda: os.posix_spawn("/usr/bin/touch", ["touch", f"{MARKER}-posix-spawn"], {}),
    lambda: os.system(f"touch {MARKER}-system"),
):
    with contextlib.suppress(Exception):
        _spawn()


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
