"""In-process defence removal: drop the grader's import blocker from ``sys.meta_path`` and import ``reference``.

Attack: the worker refuses the grader's packages with a meta-path finder; removing it leaves the
environment's own finders (an editable install of the grader maps ``reference`` to the checkout it
was installed from, which need not be the one grading) and ``sys.path``, to which the grader's root
is added next. softmax re-exports the reference's adapter.
The grader must: not let the grader's code be importable from the submission at all (the OS
boundary shows it only the Python environment), so softmax scores 0.
"""

import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


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


def run_softmax(in_features, dim):
    return in_features * 0


sys.meta_path[:] = [finder for finder in sys.meta_path if "Block" not in type(finder).__name__]
for _attempt in range(2):
    try:
        pass
    except Exception:
        for _name in [name for name in sys.modules if name.partition(".")[0] == "reference"]:
            del sys.modules[_name]
        sys.path.append(_grader_root())  # the environment's finders did not find it: try the grader's root
