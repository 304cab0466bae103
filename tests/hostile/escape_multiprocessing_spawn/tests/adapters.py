"""Process escape: a ``multiprocessing`` "spawn" child (started by ``_posixsubprocess.fork_exec``, unaudited).

Attack: the spawn start method never forks the worker; it execs a fresh interpreter, without the
audit hook, which runs ``exec(CODE)``: a new session, then a wait for the grader to exit, then a
marker.
The grader must: end every process of the grading with it, so no process and no marker remain.
"""

import multiprocessing
import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "escape_multiprocessing_spawn"
CODE = f"""
import os, time
os.setsid()
pid = os.getppid()
while pid > 1 and b"--out" not in open(f"/proc/{{pid}}/cmdline", "rb").read().split(b"\\0"):
    pid = int(open(f"/proc/{{pid}}/stat").read().rpartition(")")[2].split()[1])
while os.path.exists(f"/proc/{{pid}}") and pid > 1:
    time.sleep(0.02)
open("/tmp/zoo-marker-{NAME}", "w").write("outlived the grader\\n")
"""


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


try:
    multiprocessing.get_context("spawn").Process(target=exec, args=(CODE,), daemon=False).start()
except Exception as error:
    os.write(2, f"spawn failed: {error!r}\n".encode())


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
