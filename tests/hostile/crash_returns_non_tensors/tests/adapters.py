"""Crashes: answers that are not tensors: None, a string, a dict, an int tensor, numpy, and an object whose
``__repr__``, ``__eq__`` and ``__len__`` raise, one per call.

Attack: whatever formats or compares the answer on the grader's side runs the submission's methods,
or chokes on a type it did not expect.
The grader must: fail the calls, never run the submission's code outside the sandbox, and score
softmax 0.
"""

import numpy as np
import torch

HONEST = {"linear": 1, "rmsnorm": 1}
_calls = [0]


class Booby:
    def __repr__(self):
        raise RuntimeError("repr")

    def __eq__(self, other):
        raise RuntimeError("eq")

    def __len__(self):
        raise RuntimeError("len")

    __hash__ = None


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    _calls[0] += 1
    answers = [None, "softmax", {"p": in_features}, in_features.long(), np.zeros(3), Booby(), [Booby()]]
    return answers[_calls[0] % len(answers)]
