"""Options shared by every suite: the device tensors live on and the implementation under test."""

from __future__ import annotations

import os
from types import ModuleType

import pytest
import torch

from tools.implementation import ENV_VAR, load_adapters


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default=os.environ.get("REFERENCE_TEST_DEVICE", "cpu"),
        choices=("cpu", "cuda"),
        help="device the tensors under test live on (env: REFERENCE_TEST_DEVICE); cuda skips without a GPU",
    )
    parser.addoption(
        "--impl",
        default=os.environ.get(ENV_VAR),
        help=f"adapters file or course repository root to test instead of the reference (env: {ENV_VAR})",
    )


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda asked for, but torch.cuda.is_available() is False on this machine")
    return torch.device(name)


@pytest.fixture(scope="session")
def adapters(request: pytest.FixtureRequest) -> ModuleType:
    """The adapters module under test (SPEC §4): the reference's unless --impl names another."""
    return load_adapters(request.config.getoption("--impl"))
