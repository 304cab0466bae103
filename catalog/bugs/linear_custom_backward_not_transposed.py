"""Wrote Linear as a custom autograd.Function whose backward multiplies by Wᵀ instead of W.

The forward x Wᵀ is right. For a square W the gradient is silently wrong; otherwise backward fails on
the shapes.
"""

import torch

from reference.adapters import *  # noqa: F403


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(weight)
        return x @ weight.T

    @staticmethod
    def backward(ctx, grad_output):
        (weight,) = ctx.saved_tensors
        return grad_output @ weight.T, None


def run_linear(d_in, d_out, weights, in_features):
    return _Linear.apply(in_features, weights)
