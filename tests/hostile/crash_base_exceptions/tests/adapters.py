"""Crashes: ``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``, a ``BaseException`` subclass and an
exception whose ``__str__`` raises, one per call.

Attack: exceptions that ``except Exception`` does not catch, and one that cannot even be described.
The grader must: count each as the call failing, so softmax scores 0 and the rest is graded.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_calls = [0]


class Escape(BaseException):
    pass


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    _calls[0] += 1
    raise [SystemExit(0), KeyboardInterrupt(), GeneratorExit(), Escape("out"), Unprintable()][_calls[0] % 5]
