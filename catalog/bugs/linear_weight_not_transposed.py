"""Multiplied by W instead of Wᵀ, transposing only when the shapes demanded it.

A square W is used untransposed, and linearity alone cannot see it.
"""

from reference.adapters import *  # noqa: F403


def run_linear(d_in, d_out, weights, in_features):
    w = weights if weights.shape[0] == in_features.shape[-1] else weights.T
    return in_features @ w
