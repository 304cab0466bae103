"""The snapshot files on disk: reading one back, their size budget, and the ones no golden test owns.

syrupy 7 reports unused snapshots only when pytest is started without paths: with ``pytest golden`` it
ignores a file whose test id no longer exists (a renamed case, a removed parameter), and
``--snapshot-update`` leaves it behind. ``stale_files`` closes that gap from the items pytest collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import torch

from golden.tensor_snapshot import TensorSnapshotExtension, deserialize_tensor

GOLDEN = Path(__file__).parent
SNAPSHOTS = GOLDEN / "__snapshots__"
SUFFIX = f".{TensorSnapshotExtension.file_extension}"
BUDGET_BYTES = 5_000_000


def recorded(test_file: str, name: str) -> torch.Tensor:
    """The tensor recorded for snapshot ``name`` of the test module ``test_file`` (pass ``__file__``)."""
    path = SNAPSHOTS / Path(test_file).stem / f"{name}{SUFFIX}"
    if not path.is_file():
        raise FileNotFoundError(
            f"no recorded snapshot {path}; record it with `python -m pytest golden --snapshot-update`"
        )
    return deserialize_tensor(path.read_text())


def snapshot_files() -> list[Path]:
    return sorted(path for path in SNAPSHOTS.rglob("*") if path.is_file())


@dataclass
class CollectedModule:
    module: ModuleType
    names: set[str] = field(default_factory=set)  # test ids, e.g. test_rope_course_shape[arange-float32]


def collected_golden_cases(items: Iterable[pytest.Item]) -> dict[str, CollectedModule]:
    """Per golden test module (by file stem), the ids of its collected items that take a tensor snapshot."""
    modules: dict[str, CollectedModule] = {}
    for item in items:
        if item.path.parent != GOLDEN or "tensor_snapshot" not in getattr(item, "fixturenames", ()):
            continue
        modules.setdefault(item.path.stem, CollectedModule(item.module)).names.add(item.name)
    return modules


def stale_files(collected: dict[str, CollectedModule]) -> list[Path]:
    """Snapshot files that no golden test can write: of a module or test function that is gone, or of a
    parameter set that the (collected, not yet deselected) test no longer has."""
    stale = []
    for path in snapshot_files():
        if path.parent.parent != SNAPSHOTS or path.suffix != SUFFIX:
            stale.append(path)  # not where or what the extension writes
            continue
        stem, name = path.parent.name, path.name.removesuffix(SUFFIX)
        if not (GOLDEN / f"{stem}.py").is_file():
            stale.append(path)
        elif stem in collected:
            owner = collected[stem]
            function = name.split("[", 1)[0]
            collected_function = any(other.split("[", 1)[0] == function for other in owner.names)
            if name not in owner.names and (collected_function or not callable(getattr(owner.module, function, None))):
                stale.append(path)
    return stale
