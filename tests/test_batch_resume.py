"""An interrupted ``--batch`` resumes: the gradebook is written as each submission finishes, and a rerun into the
same ``--out`` skips every submission graded before with the same content and rubric, and says so."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from grader import cli
from grader.gradebook import Gradebook, content_sha256
from grader.rubric import load_rubric
from grader.scoring import ungradable
from tests.submissions import CORRECT_SOFTMAX

RUBRIC = """
[settings]
# Two checks: resuming is about which submissions are graded, not about how thoroughly.
suites = ["properties/test_softmax.py::test_sums_to_one", "properties/test_softmax.py::test_values_are_probabilities"]
hypothesis_profile = "grading"
dtypes = ["float32"]
call_seconds = 5
suite_seconds = 300

[problems.softmax]
points = 1
"""


@pytest.fixture
def batch(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("a.py", "b.py"):
        (folder / name).write_text(textwrap.dedent(CORRECT_SOFTMAX))
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(RUBRIC)
    return folder, rubric


GRADE = cli.grade_submission


class Interrupted(BaseException):
    """Stands for Ctrl-C: a BaseException, as KeyboardInterrupt is (which pytest would take as its own)."""


def _graded_by(monkeypatch: pytest.MonkeyPatch, interrupt_at: str | None = None) -> list[str]:
    """Record which submissions the batch grades; ``interrupt_at`` stands for Ctrl-C while grading that one."""
    graded: list[str] = []

    def recording(submission: Path, *args, **kwargs):
        if submission.name == interrupt_at:
            raise Interrupted
        graded.append(submission.name)
        return GRADE(submission, *args, **kwargs)

    monkeypatch.setattr(cli, "grade_submission", recording)
    return graded


def _run(folder: Path, rubric: Path, out: Path) -> int:
    return cli.main([str(folder), "--batch", "--rubric", str(rubric), "--out", str(out), "--quiet", "--jobs", "1"])


def test_an_interrupted_batch_resumes_without_regrading_what_finished(batch, tmp_path, monkeypatch, capsys) -> None:
    folder, rubric = batch
    out = tmp_path / "out"
    graded = _graded_by(monkeypatch, interrupt_at="b.py")
    with pytest.raises(Interrupted):
        _run(folder, rubric, out)
    recorded = json.loads((out / "gradebook.json").read_text())
    assert [entry["submission"] for entry in recorded] == ["a.py"], "a finished submission was not recorded at once"
    assert recorded[0]["sha256"] == content_sha256(folder / "a.py")
    assert recorded[0]["problems"]["softmax"] == {"points": 1, "status": "passed", "findings": 0}
    capsys.readouterr()

    graded = _graded_by(monkeypatch)
    assert _run(folder, rubric, out) == 0
    assert graded == ["b.py"]
    said = " ".join(capsys.readouterr().out.split())  # rich wraps lines at the terminal's width
    assert "1 of 2 submissions already graded with the same content and rubric are not graded again (a.py)" in said
    entries = {entry["submission"]: entry for entry in json.loads((out / "gradebook.json").read_text())}
    assert sorted(entries) == ["a.py", "b.py"] and {e["score"] for e in entries.values()} == {1}
    assert (out / "gradebook.csv").read_text().count("\n") == 3  # a header and one row each


def test_a_changed_submission_or_rubric_is_graded_again(batch, tmp_path) -> None:
    folder, rubric = batch
    out = tmp_path / "out"
    book = Gradebook(out, load_rubric(rubric), rubric)
    report = ungradable(book.rubric, str(folder / "a.py"), "cpu", "stands for any finished grading")
    book.record(report, "a.py", content_sha256(folder / "a.py"))
    again = Gradebook(out, load_rubric(rubric), rubric)  # what a rerun reads back
    assert again.finished("a.py", content_sha256(folder / "a.py"))
    (folder / "a.py").write_text(textwrap.dedent(CORRECT_SOFTMAX) + "# resubmitted\n")
    assert not again.finished("a.py", content_sha256(folder / "a.py"))
    rubric.write_text(RUBRIC.replace("points = 1", "points = 2"))
    regraded = Gradebook(out, load_rubric(rubric), rubric)
    assert not regraded.finished("a.py", book.entries["a.py"].sha256)


def test_the_content_hash_reads_only_what_grading_sees_and_never_opens_a_fifo(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    (repository / "tests").mkdir(parents=True)
    (repository / "tests" / "adapters.py").write_text("x = 1\n")
    before = content_sha256(repository)
    (repository / ".git").mkdir()
    (repository / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repository / "weights.pt").write_bytes(b"\0" * 64)
    assert content_sha256(repository) == before, "files staging skips changed the hash"
    os.mkfifo(repository / "pipe")
    (repository / "link.py").symlink_to("/etc/passwd")
    with_link_and_fifo = content_sha256(repository)  # returns: the FIFO is hashed by its kind, never opened
    assert with_link_and_fifo != before
    (repository / "tests" / "adapters.py").write_text("x = 2\n")
    assert content_sha256(repository) != with_link_and_fifo
