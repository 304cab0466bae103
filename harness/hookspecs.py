"""Hooks the harness's pytest plugin offers to other plugins (the grader's, which runs submissions in a box).

pytest registers only hooks named ``pytest_*``, hence the prefix.
"""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.hookspec(firstresult=True)
def pytest_harness_adapters(config: pytest.Config) -> ModuleType | None:
    """The adapters module under test, or ``None`` to let the harness import ``--impl`` itself.

    The grader answers with a proxy whose calls run in its sandbox, so the
    suites test a submission they never import.
    """


def pytest_harness_close_adapters(module: ModuleType) -> None:
    """Called once at the end of the session with the module ``pytest_harness_adapters`` returned."""


@pytest.hookspec(firstresult=True)
def pytest_harness_vjp(adapters: ModuleType, name: str, arguments: dict, wrt: list, cotangent) -> tuple | None:
    """``harness.backward.vjp`` of adapter ``name`` computed where the adapters run, or ``None`` to compute it here.

    Autograd cannot cross a process boundary: the grader answers by differentiating inside its box.
    """
