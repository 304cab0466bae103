"""Options shared by every suite: the device tensors live on and the implementation under test."""

from __future__ import annotations

import os
from types import ModuleType

import pytest
import torch

from tools.implementation import ENV_VAR, load_adapters

DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default=os.environ.get("REFERENCE_TEST_DEVICE", "cpu"),
        choices=("cpu", "cuda"),
        help="device the tensors under test live on (env: REFERENCE_TEST_DEVICE); cuda skips without a GPU",
    )
    parser.addoption(
        "--dtypes",
        default=os.environ.get("REFERENCE_TEST_DTYPES", ",".join(DTYPE_NAMES)),
        help="comma-separated float dtypes to run, e.g. float32,bfloat16 (env: REFERENCE_TEST_DTYPES); "
        "tests parametrized over another dtype are deselected",
    )
    parser.addoption(
        "--impl",
        default=os.environ.get(ENV_VAR),
        help=f"adapters file or course repository root to test instead of the reference (env: {ENV_VAR})",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {name.strip() for name in config.getoption("--dtypes").split(",") if name.strip()}
    unknown = wanted - set(DTYPE_NAMES)
    if unknown:
        raise pytest.UsageError(f"--dtypes: unknown {sorted(unknown)}; choose from {', '.join(DTYPE_NAMES)}")
    keep, drop = [], []
    for item in items:
        dtype = getattr(item, "callspec", None) and item.callspec.params.get("dtype")
        name = str(dtype).removeprefix("torch.") if isinstance(dtype, torch.dtype) else None
        (drop if name in DTYPE_NAMES and name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


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
