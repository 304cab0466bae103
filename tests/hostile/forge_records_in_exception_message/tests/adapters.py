"""Record forging: "passed" ``::grader::`` lines in an exception message and in the adapter's prints.

Attack: pytest prints a failing check's exception message, line by line, on the stdout the grader
parses for records; a message carrying a newline and a well-formed "passed" record for each softmax
check puts forged records there. The adapter also prints them to stdout and stderr (the worker's
log).
The grader must: parse only its own records (a channel the submission cannot write), so softmax
scores 0 and the forged lines change nothing.
"""

import json
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
CHECKS = [
    "properties/test_softmax.py::test_sums_to_one[dtype1]",
    "properties/test_softmax.py::test_values_are_probabilities[dtype1]",
    "golden/test_softmax.py::test_softmax_course_shape[-1-float32]",
    "golden/test_softmax.py::test_softmax_course_shape[1-float32]",
]
RECORDS = "".join(
    "\n::grader::" + json.dumps({"event": "test", "nodeid": n, "outcome": "passed", "message": "", "seconds": 0.0})
    for n in CHECKS
)


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def run_softmax(in_features, dim):
    print(RECORDS, flush=True)
    print(RECORDS, file=sys.stderr, flush=True)
    raise ValueError(RECORDS + "\n")
