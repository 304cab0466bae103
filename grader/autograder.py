"""Gradescope's side of the grader: ``run_autograder`` (``grader/gradescope/``) runs ``python -m grader.autograder``.

Inside Gradescope's container, once per submission, as root: find what the student uploaded under
``ROOT/submission`` (a bare ``adapters.py``, ``tests/adapters.py``, a repository, or a zip of one), grade it in
the strongest box the container allows, and keep ``ROOT/results/results.json`` valid throughout: it is written
first with every problem "not verified" at 0, replaced (atomically, never half-written) by the grade so far each
time a test module has finished, and at last by the grade: a platform timeout leaves what was verified.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from grader import box
from grader.cli import grade_submission
from grader.reports import replace_atomically, to_gradescope
from grader.rubric import load_rubric
from grader.sandbox import IsolationUnavailable, choose_isolation
from grader.scoring import GradeReport, not_yet_verified, ungradable
from grader.staging import MAX_BYTES, MAX_FILES

# Folders an upload tool adds next to the student's files, never the submission itself.
_NOISE = {"__MACOSX"}
ACCEPTED = "upload tests/adapters.py, adapters.py, your repository, or a zip of your repository"


class NoSubmission(Exception):
    """Nothing gradable was uploaded; the message tells the student what to upload instead."""


def find_submission(uploaded: Path, scratch: Path) -> Path:
    """The repository root or adapters file to grade, from what Gradescope placed in ``uploaded``.

    Gradescope unzips a zip upload itself; a zip that is still there (inside a folder, or uploaded next to
    nothing else) is unpacked into ``scratch`` with the staging caps. A repository may sit one folder down
    (GitHub's "Download ZIP" wraps it in ``name-main/``).
    """
    if found := _gradable_in(uploaded):
        return found
    archives = [entry for entry in _entries(uploaded) if entry.suffix == ".zip" and entry.is_file()]
    if len(archives) == 1:
        target = scratch / "unzipped"
        _unzip(archives[0], target)
        if found := _gradable_in(target):
            return found
    shown = ", ".join(sorted(entry.name for entry in _entries(uploaded))[:20]) or "nothing"
    raise NoSubmission(f"no submission found: {ACCEPTED}. Found: {shown}")


def _entries(folder: Path) -> list[Path]:
    return [entry for entry in folder.iterdir() if entry.name not in _NOISE and not entry.name.startswith(".")]


def _gradable_in(folder: Path) -> Path | None:
    """``folder`` or its single sub-folder as a repository, else a bare adapters file; staging refuses links."""
    folders = [entry for entry in _entries(folder) if entry.is_dir()]
    for candidate in [folder, *(folders if len(folders) == 1 else [])]:
        if (candidate / "tests" / "adapters.py").exists():
            return candidate
        if (candidate / "adapters.py").exists():
            return candidate / "adapters.py"
    return None


def _unzip(archive: Path, target: Path) -> None:
    """Extract a hostile archive: no absolute or ``..`` names, no links, at most the staging caps in files and bytes."""
    with zipfile.ZipFile(archive) as opened:
        members = [member for member in opened.infolist() if not member.is_dir()]
        if len(members) > MAX_FILES:
            raise NoSubmission(f"{archive.name} holds more than {MAX_FILES} files")
        budget = MAX_BYTES
        for member in members:
            parts = Path(member.filename).parts
            if Path(member.filename).is_absolute() or ".." in parts:
                raise NoSubmission(f"{archive.name}: {member.filename!r} points outside the archive")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise NoSubmission(f"{archive.name}: {member.filename!r} is a symbolic link")
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with opened.open(member) as source, open(destination, "wb") as sink:
                # Counted while reading: a declared size is the archive's word, not a fact.
                while chunk := source.read(1 << 20):
                    budget -= len(chunk)
                    if budget < 0:
                        raise NoSubmission(f"{archive.name} unpacks to more than {MAX_BYTES >> 20} MiB")
                    sink.write(chunk)


def write_results(report: GradeReport, path: Path) -> None:
    """Replace ``path`` in one step: Gradescope, reading it after a timeout, finds the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, to_gradescope(report))


def choose_level() -> tuple[box.Level | None, str]:
    """The strongest box this container allows (``--isolation strongest``: Docker's default seccomp profile, which
    Gradescope's containers run under, refuses namespaces, so ``uid``), and one line saying why it is not stronger."""
    try:
        level = choose_isolation("strongest")
    except IsolationUnavailable as error:
        return None, str(error)
    return level, box.probe().refused.get(box.Level.NAMESPACES, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("--rubric", type=Path, required=True)
    options = parser.parse_args(argv)
    rubric = load_rubric(options.rubric)
    results = options.root / "results" / "results.json"
    uploaded = options.root / "submission"
    write_results(not_yet_verified(rubric, str(uploaded), "cpu"), results)

    level, why = choose_level()
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        try:
            submission = find_submission(uploaded, Path(scratch))
        except (NoSubmission, OSError, zipfile.BadZipFile) as error:
            report = ungradable(rubric, str(uploaded), "cpu", str(error))
        else:
            if level is None:
                # The staff's problem, not the student's: no code runs unboxed, and the log says why.
                report = ungradable(rubric, submission.name, "cpu", why)
            else:
                print(f"grading {submission} at isolation {level.value}", why)
                report = grade_submission(
                    submission,
                    rubric,
                    "cpu",
                    processes=os.cpu_count() or 1,
                    isolation=level,
                    on_partial=lambda partial: write_results(partial, results),
                )
    write_results(report, results)
    print(f"{report.submission}: {report.score:g} / {report.max_score:g} in {report.seconds:.1f} s")
    return 2 if level is None else 0


if __name__ == "__main__":
    sys.exit(main())
