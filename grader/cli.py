"""The grader's command line: ``python -m grader SUBMISSION [...]``, and ``python -m grader bundle ...``.

A submission is a course repository root (``tests/adapters.py``) or an
adapters file. It never runs in this process: the property and golden suites
run in a pytest child against a sandboxed worker (``grader.sandbox``), and this
process scores the outcomes by rubric, names likely bugs, and writes reports.

``--batch DIR`` grades every submission in DIR (sub-directories and ``.py``
files) with ``--jobs`` parallel workers and writes a gradebook (``grader/gradebook.py``)
as each one finishes; one broken submission never stops the batch, and a rerun
into the same ``--out`` grades only what is not in the gradebook unchanged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import box, bundle
from grader.diagnosis import likely_bugs
from grader.gradebook import CSV_NAME, JSON_NAME, Entry, Gradebook, content_sha256
from grader.reports import FORMATS, render_terminal, write_reports
from grader.rubric import DEFAULT_RUBRIC, Rubric, RubricError, load_rubric
from grader.sandbox import ISOLATION_CHOICES, IsolationUnavailable, Limits, Sandbox, SubmissionError, choose_isolation
from grader.scoring import GradeReport, grade, so_far, ungradable
from grader.staging import Staged, stage
from grader.suite_run import SuiteRun, run_suites
from harness.implementation import ImplementationError


def grade_submission(
    submission: Path,
    rubric: Rubric,
    device: str,
    progress: Progress | None = None,
    processes: int = 1,
    isolation: box.Level | str = box.Level.NAMESPACES,
    on_partial: Callable[[GradeReport], None] | None = None,
) -> GradeReport:
    """Grade one submission; ``processes`` pytest workers share its checks (the report does not depend on it).

    Whatever the submission does, this returns a report: every failure around it becomes "ungradable: reason".
    ``on_partial`` sees the grade so far whenever more checks are in (``scoring.so_far``), for a platform that
    shows results while grading runs.
    """
    started = time.monotonic()
    level = box.Level(isolation)
    scratch = Path(tempfile.mkdtemp(prefix="grade-run-"))
    try:
        report = _grade_staged(submission, scratch, rubric, device, progress, processes, level, on_partial)
    except Exception as error:  # the grader's own failure on a hostile submission: reported, never a crash
        report = ungradable(rubric, str(submission), device, f"grader error: {type(error).__name__}: {error}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.isolation = level.value
    report.seconds = time.monotonic() - started
    return report


def _grade_staged(
    submission: Path,
    scratch: Path,
    rubric: Rubric,
    device: str,
    progress: Progress | None,
    processes: int,
    isolation: box.Level,
    on_partial: Callable[[GradeReport], None] | None,
) -> GradeReport:
    try:
        staged = stage(submission, scratch)  # one copy, mounted read-only by every box of this grading
        # The import check up front; the same worker later runs the bug diagnosis.
        sandbox = Sandbox(staged, device=device, limits=Limits(call_seconds=rubric.call_seconds), isolation=isolation)
    except ImplementationError as error:
        return ungradable(rubric, str(submission), device, str(error))
    with sandbox:
        try:
            sandbox.start()
        except SubmissionError as error:
            return ungradable(rubric, str(submission), device, str(error))
        report = _check(submission, staged, rubric, device, progress, processes, isolation, on_partial)
        for problem, spec in zip(report.problems, rubric.problems, strict=True):
            if problem.failed:
                # One problem's diagnosis calls share one check's time: an adapter answering each of its several
                # samples just under the call limit cannot stretch the grading by a call limit per sample.
                sandbox.begin_check(rubric.check_seconds)
                try:
                    problem.likely_bugs = likely_bugs(list(spec.adapters), sandbox.call, sandbox.vjp)
                finally:
                    sandbox.end_check()
    return report


def _check(
    submission: Path,
    staged: Staged,
    rubric: Rubric,
    device: str,
    progress: Progress | None,
    processes: int,
    isolation: box.Level,
    on_partial: Callable[[GradeReport], None] | None,
) -> GradeReport:
    task = progress.add_task(f"checking {submission.name}", total=None) if progress else None

    def advance(done: int, total: int) -> None:
        if progress is not None:
            progress.update(task, completed=done, total=total or None)

    def partial(run: SuiteRun) -> None:
        report = so_far(rubric, run, str(submission), device)
        report.isolation = isolation.value
        on_partial(report)

    run = run_suites(
        staged, rubric, device, isolation, advance, processes, on_partial=partial if on_partial is not None else None
    )
    report = grade(rubric, run, str(submission), device)
    problems = []
    if run.timed_out:
        problems.append(f"the checks ran past {rubric.suite_seconds:g} s and were stopped")
    elif run.exit_code not in (0, 1) or not run.outcomes:
        problems.append(f"pytest exited with status {run.exit_code}:\n{run.output_tail}")
    if run.bad_records:
        problems.append(f"{run.bad_records} malformed record(s) from the check run were ignored")
    report.suite_problem = "; ".join(problems) or None
    return report


def _submissions_in(directory: Path) -> list[Path]:
    return sorted(
        entry
        for entry in directory.iterdir()
        if (entry.is_dir() and (entry / "tests" / "adapters.py").is_file()) or entry.suffix == ".py"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Grade student submissions. `python -m grader bundle gradescope --rubric PATH` builds a "
        "Gradescope autograder zip instead (grader/bundle.py).",
    )
    parser.add_argument(
        "submission", type=Path, help="a course repository root, an adapters file, or with --batch a directory of them"
    )
    parser.add_argument("--batch", action="store_true", help="grade every submission inside SUBMISSION")
    parser.add_argument(
        "--rubric", type=Path, default=DEFAULT_RUBRIC, help=f"rubric TOML (default {DEFAULT_RUBRIC.name})"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_CHOICES,
        default="auto",
        help="the operating-system box submissions run in: auto (namespaces where the OS allows them, else a "
        "refusal saying why), strongest (namespaces where allowed, else uid: for containers and CI runners), "
        "namespaces, uid (weaker: a separate unprivileged uid only; see the README for what it does not stop), "
        "none (no isolation: trusted code only)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports"), help="where reports are written (default ./reports)"
    )
    parser.add_argument("--format", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    parser.add_argument("--jobs", type=int, default=2, help="parallel submissions in --batch mode")
    parser.add_argument(
        "--processes",
        type=int,
        help="pytest worker processes per submission (default: the CPU cores shared out among --jobs)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-problem explanations")
    parser.add_argument(
        "--fail-under",
        type=float,
        metavar="SCORE",
        help="exit with status 1 when a submission scores below SCORE (for CI that should go red)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # A subcommand ahead of the positional SUBMISSION (``./bundle`` grades a folder of that name).
    if argv[:1] == ["bundle"]:
        return bundle.main(argv[1:])
    parser = build_parser()
    options = parser.parse_args(argv)
    console = Console(stderr=False)
    formats = tuple(f.strip() for f in options.format.split(",") if f.strip())
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"--format: unknown {unknown}; choose from {', '.join(FORMATS)}")
    try:
        rubric = load_rubric(options.rubric)
    except RubricError as error:
        parser.error(str(error))
    if not options.submission.exists():
        parser.error(f"{options.submission} does not exist")

    try:
        isolation = choose_isolation(options.isolation)
    except IsolationUnavailable as error:
        parser.exit(2, f"python -m grader: {error}\n")
    if isolation is box.Level.NONE:
        console.print("[yellow]--isolation none: the submission runs with no boundary; only for code you trust[/]")
    if isolation is not box.Level.NAMESPACES and options.isolation == "strongest":
        console.print(
            f"[yellow]--isolation strongest is {isolation.value} here: {box.probe().refused[box.Level.NAMESPACES]}[/]"
        )
    jobs = max(1, options.jobs) if options.batch else 1
    if options.processes is not None and options.processes < 1:
        parser.error("--processes must be at least 1")
    processes = options.processes or max(1, (os.cpu_count() or 1) // jobs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    if not options.batch:
        with Progress(*columns, console=console, disable=options.quiet, transient=True) as progress:
            report = grade_submission(options.submission, rubric, options.device, progress, processes, isolation)
        if options.quiet:
            console.print(f"{report.submission}: {report.score:g} / {report.max_score:g}")
        else:
            render_terminal(report, console)
        written = write_reports(report, options.out, formats)
        console.print(f"reports: {', '.join(str(path) for path in written)}  ({report.seconds:.1f} s)")
        return exit_status_for(options.fail_under, [report])

    submissions = _submissions_in(options.submission)
    if not submissions:
        parser.error(f"{options.submission} holds no submissions (directories with tests/adapters.py, or .py files)")
    book = Gradebook(options.out, rubric, options.rubric)
    book.keep_only({s.name for s in submissions})
    hashes = {s: content_sha256(s) for s in submissions}
    done = [s for s in submissions if book.finished(s.name, hashes[s])]
    if done:
        console.print(
            f"resuming {options.out / JSON_NAME}: {len(done)} of {len(submissions)} submissions already graded with "
            f"the same content and rubric are not graded again ({', '.join(s.name for s in done[:5])}"
            f"{', ...' if len(done) > 5 else ''}); a fresh --out grades everything"
        )
    todo = [s for s in submissions if s not in done]
    with Progress(*columns, console=console, disable=options.quiet) as progress:
        overall = progress.add_task("grading", total=len(todo))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(grade_submission, s, rubric, options.device, None, processes, isolation): s for s in todo
            }
            for future in as_completed(futures):
                submission = futures[future]
                try:
                    report = future.result()
                except Exception as error:  # the grader's own failure on one submission must not stop the batch
                    report = ungradable(rubric, str(submission), options.device, f"grader error: {error!r}")
                    report.isolation = isolation.value
                write_reports(report, options.out / submission.stem, formats)
                book.record(report, submission.name, hashes[submission])  # now: an interruption keeps it
                progress.console.print(f"{submission.name}: {report.score:g} / {report.max_score:g}")
                progress.advance(overall)
    book.write()
    console.print(f"gradebook: {options.out / CSV_NAME}, {options.out / JSON_NAME}")
    return exit_status_for(options.fail_under, list(book.entries.values()))


def exit_status_for(threshold: float | None, graded: list[GradeReport] | list[Entry]) -> int:
    return int(threshold is not None and any(report.score < threshold for report in graded))


if __name__ == "__main__":
    sys.exit(main())
