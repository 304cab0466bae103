"""Record forging: a malformed ``::grader::`` line in an exception message.

Attack: ``raise ValueError("\\n::grader::{bad")``: pytest prints the message on the stdout the
grader parses, and the grader ``json.loads`` whatever follows the prefix. A parse error there ends
the grading of this submission, and in a batch the grader's job.
The grader must: never let a submission's text reach its record parser (or survive it), so the
report is complete, linear and rmsnorm score and softmax scores 0.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    raise ValueError("\n::grader::{bad")
