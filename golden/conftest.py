"""Fixtures of the golden suite: the snapshot extension, the comparison mode and the ``golden`` checker.

Mode (``--golden-compare``, env ``GOLDEN_COMPARE``): ``auto`` (default) is ``exact`` for the
reference on the CPU when this machine's torch version and CPU kernel ISA are those of the recording
(``recorded_with.json``), and ``tolerance`` otherwise: ``--impl``, ``--device cuda``, or a CPU whose
vectorised kernels round differently (AVX-512, ARM). The header of a run names the mode and why.
Snapshots are only ever written by the reference on the CPU, which also rewrites ``recorded_with.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from golden.check import GoldenCheck, Mode
from golden.snapshot_files import CollectedModule, collected_golden_cases
from golden.tensor_snapshot import TensorSnapshotExtension
from harness.implementation import REFERENCE

MODES = ("auto", "exact", "tolerance")
RECORDED_WITH = Path(__file__).with_name("recorded_with.json")
COLLECTED = pytest.StashKey[dict[str, CollectedModule]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--golden-compare",
        default=os.environ.get("GOLDEN_COMPARE", "auto"),
        choices=MODES,
        help="golden comparison: exact (bit-identical), tolerance (SPEC §5 per dtype) or auto "
        "(exact for the reference on the CPU, tolerance otherwise) (env: GOLDEN_COMPARE)",
    )


def _is_reference(config: pytest.Config) -> bool:
    return config.getoption("--impl") in (None, REFERENCE)


def this_machine() -> dict[str, str]:
    """What decides the reference's CPU bits besides its code: torch's version and its CPU kernels' ISA."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def recorded_with() -> dict[str, str] | None:
    return json.loads(RECORDED_WITH.read_text()) if RECORDED_WITH.is_file() else None


def golden_mode(config: pytest.Config) -> tuple[Mode, str]:
    """The comparison mode and why it was chosen."""
    chosen = config.getoption("--golden-compare", "auto")
    if chosen != "auto":
        return chosen, "chosen with --golden-compare"
    if not _is_reference(config):
        return "tolerance", "the implementation under test is not the reference"
    if config.getoption("--device") != "cpu":
        return "tolerance", "the snapshots were recorded on the CPU"
    if (recording := recorded_with()) != this_machine():
        # Vectorised kernels (AVX2 vs AVX-512 vs NEON) and torch releases round differently: not a bug.
        return "tolerance", f"this machine {this_machine()} differs from the recording's {recording}"
    return "exact", "the reference on the CPU kind and torch that recorded the snapshots"


def pytest_configure(config: pytest.Config) -> None:
    if not getattr(config.option, "update_snapshots", False):
        return
    if not _is_reference(config) or config.getoption("--device") != "cpu":
        raise pytest.UsageError(
            "--snapshot-update records the truth: only the reference on the CPU may write golden snapshots "
            "(drop --impl and --device cuda)"
        )
    if config.getoption("--golden-compare", "auto") == "tolerance":
        raise pytest.UsageError("--snapshot-update compares exactly; drop --golden-compare tolerance")
    RECORDED_WITH.write_text(json.dumps(this_machine(), indent=2, sort_keys=True) + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember the golden cases before ``-k``/``--dtypes`` deselect any: their files are not stale."""
    config.stash[COLLECTED] = collected_golden_cases(items)


@pytest.fixture
def collected_golden(request: pytest.FixtureRequest) -> dict[str, CollectedModule]:
    return request.config.stash.get(COLLECTED, {})


def pytest_report_header(config: pytest.Config) -> str:
    mode, why = golden_mode(config)
    return f"golden: {mode} comparison ({why})"


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """Golden cases run on one CPU thread: MKL picks other float32 GEMM kernels for other thread counts, and
    the recorded bytes must not depend on how many cores the recording or checking machine has."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def recording_only(request: pytest.FixtureRequest) -> None:
    """Skip under ``--impl``: anchors check the recorded snapshots themselves, not the implementation under test
    (and must not count as a passed check of a problem whose adapter is not implemented)."""
    if not _is_reference(request.config):
        pytest.skip("checks the recorded snapshots against an independent model, not the implementation under test")


@pytest.fixture
def tensor_snapshot(snapshot):
    return snapshot.use_extension(TensorSnapshotExtension)


@pytest.fixture
def golden(
    request: pytest.FixtureRequest,
    tensor_snapshot,
    device: torch.device,
    implementation: Callable[[str], Callable],
) -> GoldenCheck:
    """``golden.adapter("run_softmax", dtype, in_features=x, dim=-1)`` or ``golden.function(f, dtype, law=...)``."""
    return GoldenCheck(tensor_snapshot, golden_mode(request.config)[0], device, implementation)
