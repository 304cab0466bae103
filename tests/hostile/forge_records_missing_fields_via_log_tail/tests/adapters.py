"""Record forging: a well-formed JSON record missing its fields, delivered through the crash log tail.

Attack: the adapter prints ``::grader::{"event": "test"}`` to stdout (the worker's log) and then
exits; the crash message the check reports carries the log's tail, which pytest prints on the stdout
the grader parses. ``record["nodeid"]`` then raises in the grader.
The grader must: survive (or never see) it, so the report is complete and softmax scores 0.
"""

import os

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    print('::grader::{"event": "test"}', flush=True)
    os._exit(1)
