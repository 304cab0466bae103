"""In-process defence removal, sys.path variant: load a bundled correct implementation by file path under an alias.

Attack: the import blocker goes by package name, so it puts the grader's root on ``sys.path`` and
loads ``catalog/correct/torch_functional_adapters.py`` (self-contained) with
``spec_from_file_location`` under a harmless name, and re-exports its softmax.
The grader must: keep the grader's files out of reach (today the audit hook refuses the open), so
softmax scores 0.
"""

import importlib.util
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


def _borrowed():
    sys.path.insert(0, _grader_root())
    path = os.path.join(_grader_root(), "properties", "catalog", "correct", "torch_functional_adapters.py")
    spec = importlib.util.spec_from_file_location("my_own_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_softmax


try:
    run_softmax = _borrowed()
except Exception:

    def run_softmax(in_features, dim):
        return in_features * 0
