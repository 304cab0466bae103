"""Golden output of ``run_rmsnorm`` at the course test-model shape."""

from __future__ import annotations

import torch

from reference import adapters


def test_rmsnorm_course_shape(tensor_snapshot):
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(4, 12, 64, generator=generator)
    weight = torch.rand(64, generator=generator) + 0.5
    assert adapters.run_rmsnorm(64, 1e-5, weight, x) == tensor_snapshot
