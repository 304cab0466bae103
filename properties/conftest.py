"""Hypothesis profiles and access to the implementation under test for the property suite.

Profiles (``--hypothesis-profile NAME`` or env ``HYPOTHESIS_PROFILE``):
``fast`` (default: CI and local runs), ``thorough`` (many more examples) and
``grading`` (derandomized, so two grading runs draw the same examples).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("fast", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
settings.register_profile("grading", max_examples=50, derandomize=True, database=None, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(scope="session")
def reference_only(adapters: ModuleType) -> None:
    """Skip under ``--impl``: laws of reference-only variants (GQA, RoPE layouts) the adapter protocol cannot reach."""
    if adapters.__name__ != "reference.adapters":
        pytest.skip("checks a reference-only variant; the SPEC §4 adapter protocol has no entry point for it")


@pytest.fixture(scope="session")
def implementation(adapters: ModuleType) -> Callable[[str], Callable]:
    """``implementation("run_softmax")`` returns that adapter; a missing one skips as not implemented."""

    def lookup(name: str) -> Callable:
        function = getattr(adapters, name, None)
        if function is None:
            pytest.skip(f"not implemented: the adapters module has no {name}")

        def call(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except NotImplementedError:
                pytest.skip(f"not implemented: {name} raises NotImplementedError")

        return call

    return lookup
