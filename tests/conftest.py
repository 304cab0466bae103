"""Markers of the unit tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "zoo: grades a hostile submission of tests/hostile (slow; deselect with -m 'not zoo')"
    )
