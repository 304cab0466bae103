"""In-process defence removal: rebind the worker's module-level ``_inside`` through ``sys.modules['__main__']``.

Attack: the audit hook looks ``_inside`` up in the worker script's globals on every event; a lambda
that always answers True turns "outside the scratch" and "inside the grader" checks off. Then it
writes markers in /tmp and in the grader's checkout, and reads the grader's reference softmax to
answer with it.
The grader must: keep the submission from writing outside its scratch and from reading the grader's
files whatever it does to its own process (the OS boundary), so softmax scores 0 and no marker exists.
"""

import os
import re
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "defence_rebind_worker_functions"
_stolen = {}


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


def _attack():
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "_inside"):
        main._inside = lambda path, root: True
    for target in (f"/tmp/zoo-marker-{NAME}", os.path.join(_grader_root(), f"zoo-marker-{NAME}")):
        try:
            with open(target, "w") as handle:
                handle.write("written past the sandbox\n")
        except OSError:
            pass
    with open(os.path.join(_grader_root(), "reference", "softmax.py")) as handle:
        source = handle.read()
    source = re.sub(r"^from reference.*$|^@shape_checked$", "", source, flags=re.M)
    exec(compile(source, "stolen_softmax", "exec"), _stolen)


def run_softmax(in_features, dim):
    if not _stolen:
        _attack()
    return _stolen["softmax"](in_features, dim=dim)
