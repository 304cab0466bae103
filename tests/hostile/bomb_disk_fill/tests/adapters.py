"""Amplification, disk filling (probe, bounded): write 2 GiB into the scratch directory.

Attack: 64 MiB is the per-file limit today, so 32 files of 64 MiB, four per call to stay inside the
call limit (the bomb is bounded so the zoo never fills a disk; the scratch goes with the grading).
Probe: once all are written softmax answers honestly, so a score on softmax means the scratch has
no size limit below 2 GiB.
The grader must: cap the scratch's size (a size-limited tmpfs or a quota), so softmax scores 0.
"""

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
FILES, PER_CALL, SIZE = 32, 4, 64 << 20
_written = [0, 0]  # files attempted, bytes written


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _fill():
    block = b"\1" * (1 << 20)
    for _ in range(PER_CALL):
        if _written[0] >= FILES:
            return
        _written[0] += 1
        try:
            with open(f"fill-{_written[0]}.bin", "wb") as handle:
                for _ in range(SIZE // len(block)):
                    _written[1] += handle.write(block)
        except OSError:
            return


def run_softmax(in_features, dim):
    _fill()
    if _written[1] >= FILES * SIZE:
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True)
    return torch.ones_like(in_features) / in_features.shape[dim]
