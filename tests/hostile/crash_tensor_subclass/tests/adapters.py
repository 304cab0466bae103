"""Crashes: a tensor subclass that lies: it claims the expected shape and equality with anything.

Attack: ``__torch_function__``, ``__eq__``, ``shape`` and ``allclose`` overridden so that any comparison
passes, wrapped around a wrong (all-zero) answer.
The grader must: receive plain values only (the wire rebuilds fresh tensors), so softmax scores 0.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal", "isclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

    def __eq__(self, other):
        return True


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    return torch.zeros_like(in_features).as_subclass(Liar)
