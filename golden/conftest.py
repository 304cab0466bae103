"""Fixtures of the golden suite."""

from __future__ import annotations

import pytest

from golden.tensor_snapshot import TensorSnapshotExtension


@pytest.fixture
def tensor_snapshot(snapshot):
    return snapshot.use_extension(TensorSnapshotExtension)
