"""The batch gradebook: one entry per submission, written the moment it is graded, so a batch can resume.

``gradebook.json`` (the record) and ``gradebook.csv`` (the same entries for a spreadsheet) are replaced after
every graded submission. Each entry carries the sha256 of what was graded (the files staging would copy) and of
the rubric; a rerun into the same folder skips every submission whose entry matches both, and grades the rest.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.reports import replace_atomically
from grader.rubric import Rubric
from grader.scoring import GradeReport
from grader.staging import MAX_BYTES, SKIPPED

JSON_NAME, CSV_NAME = "gradebook.json", "gradebook.csv"


@dataclass(frozen=True)
class Entry:
    submission: str  # the name inside the batch folder: the key a rerun matches on
    sha256: str
    rubric_sha256: str
    score: float
    max_score: float
    isolation: str
    error: str | None
    problems: dict[str, dict] = field(default_factory=dict)  # name -> points, status, findings

    @classmethod
    def of(cls, report: GradeReport, name: str, sha256: str, rubric_sha256: str) -> Entry:
        problems = {
            p.name: {"points": p.points, "status": p.status, "findings": len(p.findings)} for p in report.problems
        }
        error = report.unloadable or report.suite_problem
        return cls(name, sha256, rubric_sha256, report.score, report.max_score, report.isolation, error, problems)


def content_sha256(submission: Path) -> str:
    """The hash of what grading would see: names and bytes of regular files, link targets, other files' kinds,
    without the folders staging skips. Reading stops at staging's byte cap, past which grading refuses anyway."""
    digest, budget = hashlib.sha256(), MAX_BYTES + 1
    if submission.is_file() and not submission.is_symlink():
        digest.update(submission.read_bytes()[:budget])
        return digest.hexdigest()
    for folder, folders, files in os.walk(submission):  # links to folders are not followed (os.walk's default)
        folders[:] = sorted(f for f in folders if not _skipped(f))
        for name in sorted(f for f in files if not _skipped(f)):
            path = Path(folder, name)
            mode = path.lstat().st_mode
            digest.update(f"\0{path.relative_to(submission).as_posix()}\0{stat.S_IFMT(mode)}\0".encode())
            if stat.S_ISLNK(mode):
                digest.update(os.readlink(path).encode())
            elif stat.S_ISREG(mode) and budget > 0:  # never opens a FIFO or a device
                with open(path, "rb") as handle:
                    data = handle.read(budget)
                budget -= len(data)
                digest.update(data)
    return digest.hexdigest()


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SKIPPED)


class Gradebook:
    """The entries of one batch folder's ``--out``, starting from those an earlier run there left."""

    def __init__(self, out: Path, rubric: Rubric, rubric_path: Path) -> None:
        self.out, self.rubric = out, rubric
        self.rubric_sha256 = hashlib.sha256(rubric_path.read_bytes()).hexdigest()
        self.entries: dict[str, Entry] = {}
        try:
            earlier = json.loads((out / JSON_NAME).read_text())
            self.entries = {item["submission"]: Entry(**item) for item in earlier}
        except (OSError, ValueError, TypeError, KeyError):  # no gradebook yet, or one from before entries had hashes
            pass

    def keep_only(self, names: set[str]) -> None:
        """Forget entries of submissions no longer in the batch folder."""
        self.entries = {name: entry for name, entry in self.entries.items() if name in names}

    def finished(self, name: str, sha256: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and (entry.sha256, entry.rubric_sha256) == (sha256, self.rubric_sha256)

    def record(self, report: GradeReport, name: str, sha256: str) -> None:
        self.entries[name] = Entry.of(report, name, sha256, self.rubric_sha256)
        self.write()

    def write(self) -> None:
        entries = [self.entries[name] for name in sorted(self.entries)]
        self.out.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.out / JSON_NAME, json.dumps([asdict(e) for e in entries], indent=2))
        table = io.StringIO()
        writer = csv.writer(table)
        names = [p.name for p in self.rubric.problems]
        writer.writerow(["submission", "score", "max_score", *names, "findings", "isolation", "error", "sha256"])
        for e in entries:
            points = [f"{e.problems[n]['points']:g}" if n in e.problems else "" for n in names]
            findings = sum(p["findings"] for p in e.problems.values())
            row = [e.submission, f"{e.score:g}", f"{e.max_score:g}", *points, findings, e.isolation, e.error or ""]
            writer.writerow([*row, e.sha256])
        replace_atomically(self.out / CSV_NAME, table.getvalue())
