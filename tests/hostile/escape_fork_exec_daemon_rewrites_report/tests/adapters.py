"""Process escape and late write: a detached daemon from ``_posixsubprocess.fork_exec`` rewrites the reports.

Attack: ``fork_exec`` raises no audit event (``subprocess.Popen`` does, in Python). It starts a fresh
interpreter in a session of its own, which finds the grader among its ancestors, reads ``--out``
from its command line, waits for it to exit, then gives every problem full marks in grade.json and
results.json and leaves a marker.
The grader must: end every process of the grading with it (the OS boundary: a PID namespace or
cgroup killed as a whole) and keep its reports out of reach, so nothing changes after it exits.
"""

import _posixsubprocess
import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "escape_fork_exec_daemon_rewrites_report"
DAEMON = r"""
import json, os, sys, time
grader, out, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while os.path.exists(f"/proc/{grader}"):
    time.sleep(0.02)
for name in ("grade.json", "results.json"):
    path = os.path.join(out, name)
    try:
        with open(path) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        continue
    report["score"] = report.get("max_score", 3.0)
    for problem in report.get("problems", []) + report.get("tests", []):
        problem.update(status="passed", failures=[], failed=0)
        problem["points" if "points" in problem else "score"] = problem.get("max_points", problem.get("max_score"))
    with open(path, "w") as handle:
        json.dump(report, handle)
with open(marker, "w") as handle:
    handle.write("rewrote the reports after the grader exited\n")
"""


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _grader():
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode().split("\0")
        if "--out" in argv:
            out = argv[argv.index("--out") + 1]
            return pid, os.path.join(os.readlink(f"/proc/{pid}/cwd"), out)
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])
    return None


try:
    _pid, _out = _grader()
    _read, _write = os.pipe()
    _posixsubprocess.fork_exec(
        [sys.executable, "-I", "-c", DAEMON, str(_pid), _out, f"/tmp/zoo-marker-{NAME}"], [os.fsencode(sys.executable)],
        True, (), None, None, -1, -1, -1, -1, -1, -1, _read, _write,
        False, True, -1, None, None, None, -1, None, False,
    )  # fmt: skip
except Exception:
    pass


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
