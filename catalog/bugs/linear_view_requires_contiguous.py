"""Flattened the leading dimensions with ``.view``, which raises on a non-contiguous input."""

from reference.adapters import *  # noqa: F403


def run_linear(d_in, d_out, weights, in_features):
    flat = in_features.view(-1, d_in)
    return (flat @ weights.T).view(*in_features.shape[:-1], d_out)
