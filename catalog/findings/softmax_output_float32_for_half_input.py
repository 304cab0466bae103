"""Upcast to float32 for a stable softmax and forgot to cast the result back.

A float16 or bfloat16 input comes back as float32 (SPEC §4 "Dtypes").
"""

import torch

from reference.adapters import *  # noqa: F403


def run_softmax(in_features, dim):
    x = in_features.float()
    exps = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return exps / exps.sum(dim=dim, keepdim=True)
