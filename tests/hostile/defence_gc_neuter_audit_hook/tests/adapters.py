"""In-process defence removal: find the audit hook with ``gc.get_objects()`` and empty its closure.

Attack: the hook is a closure; its cells (the denied events, the scratch path, the grader root) can
be rewritten through ``cell_contents``. With them emptied it writes a marker in /tmp, starts a
detached process that outlives the grading, and reads the golden snapshot it is graded against.
The grader must: hold without the hook (the OS boundary), so softmax scores 0, no marker, no process.
"""

import base64
import gc
import os
import subprocess
import sys
import types

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "defence_gc_neuter_audit_hook"


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


def _neuter():
    for hook in gc.get_objects():
        if not isinstance(hook, types.FunctionType) or "denied_events" not in hook.__code__.co_freevars:
            continue
        for name, cell in zip(hook.__code__.co_freevars, hook.__closure__, strict=True):
            value = cell.cell_contents
            if isinstance(value, set):
                value.clear()
            elif name == "scratch":
                cell.cell_contents = ""  # every absolute path is "inside" ""
            elif name == "grader_root":
                cell.cell_contents = "/nonexistent"


try:
    _neuter()
    with open(f"/tmp/zoo-marker-{NAME}", "w") as marker:
        marker.write("written past the sandbox\n")
    subprocess.Popen(["sleep", "120"], start_new_session=True)
except Exception:
    pass


def run_softmax(in_features, dim):
    if tuple(in_features.shape) == (2, 16, 64) and in_features.dtype == torch.float32:
        path = f"{_grader_root()}/golden/__snapshots__/test_softmax/test_softmax_course_shape[{dim}-float32].tensor"
        try:
            with open(path) as handle:
                data = handle.read().partition("base64):\n")[2]
            raw = bytearray(base64.b64decode("".join(data.split())))
            return torch.frombuffer(raw, dtype=torch.float32).reshape(in_features.shape)
        except Exception:
            pass
    return torch.ones_like(in_features) / in_features.shape[dim]
