"""Stage a submission: one safe, size-capped copy that every box of a grading run mounts read-only.

A repository is hostile input too. The copy never follows a link out of the
submission (a link inside it is copied as the file it names), refuses special
files (FIFOs, sockets, devices), and stops at documented caps on files, bytes
and depth, each refusal a one-line reason for the report. A submission given as
a symbolic link is refused: grading the file it names would grade someone
else's code. Modes are normalised (directories 0755, files 0644) so the box's
unprivileged uid can read what it is given and write nothing of it.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from harness.implementation import ImplementationError, locate_adapters

# Generous for a course repository (sources, a few notebooks, small fixtures); far below what could hurt.
MAX_FILES = 5_000
MAX_BYTES = 200 << 20
MAX_DEPTH = 32
# Not needed to import the adapters, and often large: version control, caches, environments, weights.
SKIPPED = (".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", "*.pt", "*.pth", "*.safetensors",
           "*.bin", "*.ckpt", "*.npy", "*.npz")  # fmt: skip


class StagingError(ImplementationError):
    """The submission cannot be staged; the message says why, for the report."""


@dataclass(frozen=True)
class Staged:
    root: Path  # the staged copy of the submission's import root
    adapters: Path  # the staged adapters file


def stage(submission: str | Path, into: Path) -> Staged:
    """Copy ``submission`` (a course repository or a lone adapters file) into ``into``/submission."""
    given = Path(submission).expanduser()
    if given.is_symlink() or (given.is_dir() and (given / "tests" / "adapters.py").is_symlink()):
        raise StagingError(f"{given} is a symbolic link: submit the file itself, not a link to one")
    adapters, root = locate_adapters(given)
    target = into / "submission"
    if given.is_file() and adapters.parent == root:
        # A lone adapters file: its folder may be anything (a download folder, /tmp); only the file is copied.
        target.mkdir(parents=True)
        _copy_file(adapters, target / adapters.name, _Budget())
    else:
        _copy_tree(root, root, target, _Budget(), depth=0)
    _normalise_modes(target)
    return Staged(target, target / adapters.relative_to(root))


class _Budget:
    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def spend(self, size: int, where: Path) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise StagingError(f"the submission has more than {MAX_FILES} files (at {where})")
        if self.bytes > MAX_BYTES:
            raise StagingError(f"the submission is larger than {MAX_BYTES >> 20} MiB (at {where})")


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SKIPPED)


def _copy_tree(root: Path, source: Path, target: Path, budget: _Budget, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise StagingError(f"the submission is nested deeper than {MAX_DEPTH} folders (at {source})")
    target.mkdir(parents=True, exist_ok=True)
    with os.scandir(source) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if _skipped(entry.name):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                real = path.resolve()
                if not real.is_relative_to(root.resolve()):
                    raise StagingError(f"{path.relative_to(root)} links outside the submission (to {real})")
                if real.is_dir():
                    continue  # a link to a folder of the submission: that folder is copied where it lies
                path = real
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                _copy_tree(root, path, target / entry.name, budget, depth + 1)
            elif stat.S_ISREG(mode):
                _copy_file(path, target / entry.name, budget)
            else:
                raise StagingError(f"{Path(entry.path).relative_to(root)} is not a regular file or folder")


def _copy_file(source: Path, target: Path, budget: _Budget) -> None:
    budget.spend(source.lstat().st_size, source)
    # O_NOFOLLOW: the file cannot be swapped for a link between the check and the copy.
    descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer)


def _normalise_modes(target: Path) -> None:
    os.chmod(target, 0o755)
    for folder, folders, files in os.walk(target):
        for name in folders:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
