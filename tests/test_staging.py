"""Staging a submission: one safe copy, or a one-line reason why not (``grader/staging.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader import staging
from grader.staging import StagingError, stage

ADAPTERS = "def run_silu(in_features):\n    return in_features\n"


def _repo(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "adapters.py").write_text(ADAPTERS)
    (root / "pkg").mkdir()
    (root / "pkg" / "model.py").write_text("X = 1\n")
    return root


def test_a_repository_is_copied_with_readable_modes_and_without_caches(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text("secret")
    (repo / "pkg" / "weights.pt").write_bytes(b"0" * 10)
    (repo / "pkg" / "model.py").chmod(0o600)
    staged = stage(repo, tmp_path / "out")
    assert staged.adapters == staged.root / "tests" / "adapters.py"
    assert sorted(p.relative_to(staged.root).as_posix() for p in staged.root.rglob("*")) == [
        "pkg", "pkg/model.py", "tests", "tests/adapters.py",
    ]  # fmt: skip
    assert (staged.root / "pkg" / "model.py").stat().st_mode & 0o777 == 0o644


def test_a_lone_file_is_copied_alone(tmp_path: Path) -> None:
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "other_student.py").write_text("secret")
    lone = tmp_path / "downloads" / "adapters.py"
    lone.write_text(ADAPTERS)
    staged = stage(lone, tmp_path / "out")
    assert [p.name for p in staged.root.iterdir()] == ["adapters.py"]


def test_a_link_inside_the_submission_is_copied_as_the_file_it_names(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "pkg" / "alias.py").symlink_to(repo / "pkg" / "model.py")
    staged = stage(repo, tmp_path / "out")
    assert not (staged.root / "pkg" / "alias.py").is_symlink()
    assert (staged.root / "pkg" / "alias.py").read_text() == "X = 1\n"


@pytest.mark.parametrize("target", ["/etc/passwd", "/", "grader_root"])
def test_a_link_out_of_the_submission_is_refused(tmp_path: Path, target: str) -> None:
    repo = _repo(tmp_path / "repo")
    destination = Path(__file__).resolve().parents[1] if target == "grader_root" else Path(target)
    (repo / "pkg" / "leak").symlink_to(destination)
    with pytest.raises(StagingError, match=r"pkg/leak links outside the submission"):
        stage(repo, tmp_path / "out")


def test_a_submission_given_as_a_link_is_refused(tmp_path: Path) -> None:
    """A link to another student's (or a bundled correct) file would grade that file."""
    real = tmp_path / "real.py"
    real.write_text(ADAPTERS)
    (tmp_path / "mine.py").symlink_to(real)
    with pytest.raises(StagingError, match="is a symbolic link"):
        stage(tmp_path / "mine.py", tmp_path / "out")
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "adapters.py").symlink_to(real)
    with pytest.raises(StagingError, match="is a symbolic link"):
        stage(repo, tmp_path / "out2")


def test_special_files_are_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    os.mkfifo(repo / "pkg" / "pipe")  # reading it would block the copy forever
    with pytest.raises(StagingError, match=r"pkg/pipe is not a regular file or folder"):
        stage(repo, tmp_path / "out")


def test_depth_file_count_and_size_are_capped(tmp_path: Path, monkeypatch) -> None:
    deep = _repo(tmp_path / "deep")
    folder = deep
    for _ in range(staging.MAX_DEPTH + 2):
        folder = folder / "d"
    folder.mkdir(parents=True)
    with pytest.raises(StagingError, match="nested deeper than"):
        stage(deep, tmp_path / "out-deep")

    monkeypatch.setattr(staging, "MAX_FILES", 3)
    many = _repo(tmp_path / "many")
    for index in range(3):
        (many / f"f{index}.txt").write_text("x")
    with pytest.raises(StagingError, match="more than 3 files"):
        stage(many, tmp_path / "out-many")

    monkeypatch.setattr(staging, "MAX_FILES", 5_000)
    monkeypatch.setattr(staging, "MAX_BYTES", 1 << 20)
    big = _repo(tmp_path / "big")
    with open(big / "huge.bin.txt", "wb") as handle:
        handle.truncate(2 << 20)  # sparse: costs no disk here, would cost 2 MiB in the copy
    with pytest.raises(StagingError, match="larger than 1 MiB"):
        stage(big, tmp_path / "out-big")
