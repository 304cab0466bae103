"""The grader's command line: ``python -m grader SUBMISSION [...]``.

A submission is a course repository root (``tests/adapters.py``) or an
adapters file. It never runs in this process: the property and golden suites
run in a pytest child against a sandboxed worker (``grader.sandbox``), and this
process scores the outcomes by rubric, names likely bugs, and writes reports.

``--batch DIR`` grades every submission in DIR (sub-directories and ``.py``
files) with ``--jobs`` parallel workers and writes a gradebook; one broken
submission never stops the batch.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import box
from grader.diagnosis import likely_bugs
from grader.reports import FORMATS, render_terminal, write_reports
from grader.rubric import DEFAULT_RUBRIC, Rubric, RubricError, load_rubric
from grader.sandbox import ISOLATION_CHOICES, IsolationUnavailable, Limits, Sandbox, SubmissionError, choose_isolation
from grader.scoring import GradeReport, grade, ungradable
from grader.staging import Staged, stage
from grader.suite_run import run_suites
from harness.implementation import ImplementationError


def grade_submission(
    submission: Path,
    rubric: Rubric,
    device: str,
    progress: Progress | None = None,
    processes: int = 1,
    isolation: box.Level | str = box.Level.NAMESPACES,
) -> GradeReport:
    """Grade one submission; ``processes`` pytest workers share its checks (the report does not depend on it).

    Whatever the submission does, this returns a report: every failure around it becomes "ungradable: reason".
    """
    started = time.monotonic()
    level = box.Level(isolation)
    scratch = Path(tempfile.mkdtemp(prefix="grade-run-"))
    try:
        report = _grade_staged(submission, scratch, rubric, device, progress, processes, level)
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
        report = _check(submission, staged, rubric, device, progress, processes, isolation)
        for problem, spec in zip(report.problems, rubric.problems, strict=True):
            if problem.failed:
                problem.likely_bugs = likely_bugs(list(spec.adapters), sandbox.call, sandbox.vjp)
    return report


def _check(
    submission: Path,
    staged: Staged,
    rubric: Rubric,
    device: str,
    progress: Progress | None,
    processes: int,
    isolation: box.Level,
) -> GradeReport:
    task = progress.add_task(f"checking {submission.name}", total=None) if progress else None

    def advance(done: int, total: int) -> None:
        if progress is not None:
            progress.update(task, completed=done, total=total or None)

    run = run_suites(staged, rubric, device, isolation, on_progress=advance, processes=processes)
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


def _write_gradebook(reports: list[GradeReport], out: Path, rubric: Rubric) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", "max_score", *(p.name for p in rubric.problems), "isolation", "error"])
        for report in reports:
            points = [f"{p.points:g}" for p in report.problems]
            error = report.unloadable or report.suite_problem or ""
            row = [report.submission, f"{report.score:g}", f"{report.max_score:g}", *points, report.isolation, error]
            writer.writerow(row)
    summary = [
        {
            "submission": r.submission,
            "score": r.score,
            "max_score": r.max_score,
            "isolation": r.isolation,
            "error": r.unloadable or r.suite_problem,
        }
        for r in reports
    ]
    (out / "gradebook.json").write_text(json.dumps(summary, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade student submissions.")
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
        "refusal saying why), namespaces, uid (weaker: a separate unprivileged uid only; see the README for what it "
        "does not stop), none (no isolation: trusted code only)",
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
    reports: list[GradeReport] = []
    with Progress(*columns, console=console, disable=options.quiet) as progress:
        overall = progress.add_task("grading", total=len(submissions))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(grade_submission, s, rubric, options.device, None, processes, isolation): s
                for s in submissions
            }
            for future in as_completed(futures):
                submission = futures[future]
                try:
                    report = future.result()
                except Exception as error:  # the grader's own failure on one submission must not stop the batch
                    report = ungradable(rubric, str(submission), options.device, f"grader error: {error!r}")
                    report.isolation = isolation.value
                reports.append(report)
                write_reports(report, options.out / submission.stem, formats)
                progress.console.print(f"{submission.name}: {report.score:g} / {report.max_score:g}")
                progress.advance(overall)
    reports.sort(key=lambda r: r.submission)
    _write_gradebook(reports, options.out, rubric)
    console.print(f"gradebook: {options.out / 'gradebook.csv'}, {options.out / 'gradebook.json'}")
    return exit_status_for(options.fail_under, reports)


def exit_status_for(threshold: float | None, reports: list[GradeReport]) -> int:
    return int(threshold is not None and any(report.score < threshold for report in reports))


if __name__ == "__main__":
    sys.exit(main())
