"""Every report format from one ``GradeReport``: terminal table, JSON, JUnit XML, Gradescope, Markdown."""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.pytest_plugin import MEMBER_SEPARATOR
from grader.scoring import AspectResult, FailedCheck, GradeReport, ProblemResult
from harness.protocol import SCORED

FORMATS = ("json", "junit", "gradescope", "markdown")
_STYLE = {
    "passed": "green",
    "failed": "red",
    "incomplete": "yellow",
    "not attempted": "dim",
    "not verified": "red",
    "not graded": "red",
}


def _isolation(report: GradeReport) -> str:
    """The line every format carries: which operating-system boundary the submission ran behind."""
    return f"Isolation: {report.isolation} (grader/box.py)"


# What one problem's text may hold in any format (Gradescope shows each test's output whole; a CI summary is read on
# one screen). Failures are cut whole, and a check's Hypothesis failures at their boundaries: never mid-snippet.
FAILURE_CHARS = 12000
FINDING_CHARS = 4000


def _whole(failures: list[FailedCheck], budget: int, label: str) -> list[str]:
    """Each failure as its node id and message, most telling first, as many whole ones as ``budget`` holds."""
    parts: list[str] = []
    used = 0
    for shown, failure in enumerate(failures):
        members = failure.message.split(MEMBER_SEPARATOR)
        kept = []
        for member in members:
            if kept and used + len(member) > budget:
                break
            kept.append(member)
            used += len(member)
        if parts and used > budget:
            parts.append(f"... and {len(failures) - shown} more {label} (every one is in grade.json)")
            break
        prefix = f"[{failure.kind}] " if failure.kind != SCORED else ""
        cut = "" if len(kept) == len(members) else f"\n(and {len(members) - len(kept)} more failures of this check)"
        parts.append(f"{prefix}{failure.nodeid}\n{MEMBER_SEPARATOR.join(kept)}{cut}")
    return parts


def _explanation(problem: ProblemResult) -> str:
    """What a student reads for a problem: likely bugs first, then its failed checks, most telling first."""
    parts = [f"Likely bug: {bug}" for bug in problem.likely_bugs]
    parts += _whole(problem.failures, FAILURE_CHARS, "failed checks")
    if problem.status == "not attempted":
        parts.append("Not attempted: the adapter raises NotImplementedError or is missing.")
    if problem.status == "incomplete":
        parts.append("Incomplete: some of this problem's adapters are not implemented.")
    if problem.status == "not verified" and not problem.not_verified:
        parts.append("Not verified: grading had not reached this problem when this report was written.")
    if problem.not_verified:
        shown = ", ".join(problem.not_verified[:3]) + (" ..." if len(problem.not_verified) > 3 else "")
        parts.append(f"Not verified: {len(problem.not_verified)} check(s) never reported (the run stopped): {shown}")
    return "\n\n".join(parts)


def _findings(problem: ProblemResult) -> str:
    """What the rubric checked but does not score (SPEC §5), with the evidence: never mixed with points."""
    if not problem.findings:
        return ""
    parts = [f"Findings (checked, not scored by this rubric): {len(problem.findings)}"]
    return "\n\n".join(parts + _whole(problem.findings, FINDING_CHARS, "findings"))


def _aspect_points(problem: ProblemResult, aspect: AspectResult) -> str:
    """An aspect's own points where the rubric gives it a share of the problem's, else a dash."""
    if aspect.share is None:
        return "-"
    return f"{aspect.points or 0.0:g} / {aspect.share * problem.max_points:g}"


def _aspects_text(problem: ProblemResult) -> str:
    """One line per aspect (values, gradients, side-effects): what each kind of check found."""
    return "\n".join(
        f"{aspect.name}: {aspect.passed} passed, {aspect.failed} failed"
        + (f", {_aspect_points(problem, aspect)} points" if aspect.share is not None else "")
        for aspect in problem.aspects
    )


def _problem_text(problem: ProblemResult) -> str:
    """The aspects' rows, points, then findings."""
    parts = (_aspects_text(problem), _explanation(problem), _findings(problem))
    return "\n\n".join(part for part in parts if part)


def render_terminal(report: GradeReport, console: Console) -> None:
    table = Table(
        title=f"{report.submission}: {report.score:g} / {report.max_score:g} points", caption=_isolation(report)
    )
    for column in ("problem", "points", "status", "checks passed / failed / not implemented", "findings"):
        table.add_column(column)
    for problem in report.problems:
        style = _STYLE.get(problem.status, "")
        table.add_row(
            problem.title,
            f"{problem.points:g} / {problem.max_points:g}",
            f"[{style}]{problem.status}[/{style}]",
            f"{problem.passed} / {problem.failed} / {problem.not_implemented}",
            str(len(problem.findings)),
        )
        for aspect in problem.aspects:
            table.add_row(
                f"  {aspect.name}", _aspect_points(problem, aspect), "", f"{aspect.passed} / {aspect.failed} / -", ""
            )
    console.print(table)
    if report.unloadable:
        console.print(f"[red]Nothing could be graded:[/red] {report.unloadable}")
    if report.suite_problem:
        console.print(f"[red]The check run itself had a problem:[/red] {report.suite_problem}")
    for problem in report.problems:
        if (problem.failures or problem.not_verified or problem.findings) and not report.unloadable:
            console.rule(f"{problem.title}: {problem.status}")
            # soft_wrap: no newline is inserted, so a snippet copied from the terminal still runs.
            console.print(_problem_text(problem), markup=False, highlight=False, soft_wrap=True)


def to_json(report: GradeReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def to_junit(report: GradeReport) -> str:
    suite = ET.Element(
        "testsuite",
        name=f"grade {report.submission}",
        tests=str(len(report.problems)),
        failures=str(sum(p.status != "passed" for p in report.problems)),
        time=f"{report.seconds:.2f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="isolation", value=report.isolation)
    for problem in report.problems:
        case = ET.SubElement(suite, "testcase", classname="grade", name=problem.name)
        case.set("time", "0")
        if problem.findings:
            ET.SubElement(case, "system-out").text = _findings(problem)
        if problem.status != "passed":
            failure = ET.SubElement(
                case, "failure", message=f"{problem.status}: {problem.points:g}/{problem.max_points:g}"
            )
            failure.text = _explanation(problem) or problem.status
    return ET.tostring(suite, encoding="unicode")


def to_gradescope(report: GradeReport) -> str:
    """Gradescope autograder ``results.json``: one test per problem, visible to the student."""
    tests = [
        {
            "name": problem.title,
            "score": problem.points,
            "max_score": problem.max_points,
            "status": "passed" if problem.status == "passed" else "failed",
            "output": _problem_text(problem)
            or ("All checks passed." if problem.status == "passed" else problem.status),
            "visibility": "visible",
        }
        for problem in report.problems
    ]
    output = _isolation(report) + (f"\nNothing could be graded: {report.unloadable}" if report.unloadable else "")
    output += f"\nThe check run itself had a problem: {report.suite_problem}" if report.suite_problem else ""
    return json.dumps({"score": report.score, "output": output, "tests": tests}, indent=2)


def to_markdown(report: GradeReport) -> str:
    lines = [
        f"## Grade: {report.score:g} / {report.max_score:g}",
        "",
        _isolation(report),
        "",
        "| problem | points | status | checks passed / failed / not implemented | findings |",
        "|---|---|---|---|---|",
    ]
    for p in report.problems:
        counts = f"{p.passed} / {p.failed} / {p.not_implemented}"
        lines.append(f"| {p.title} | {p.points:g} / {p.max_points:g} | {p.status} | {counts} | {len(p.findings)} |")
        lines += [
            f"| &nbsp;&nbsp;{a.name} | {_aspect_points(p, a)} | | {a.passed} / {a.failed} / - | |" for a in p.aspects
        ]
    if report.unloadable:
        first, _, rest = report.unloadable.partition("\n")
        lines += ["", f"**Nothing could be graded:** {first}"] + (["", "```text", rest.strip(), "```"] if rest else [])
    for problem in report.problems:
        if (problem.failures or problem.not_verified or problem.findings) and not report.unloadable:
            lines += [
                "",
                f"<details><summary>{problem.title}: {problem.status}</summary>",
                "",
                "```",
                _problem_text(problem),
                "```",
                "</details>",
            ]
    return "\n".join(lines) + "\n"


_WRITERS = {
    "json": ("grade.json", to_json),
    "junit": ("junit.xml", to_junit),
    "gradescope": ("results.json", to_gradescope),
    "markdown": ("summary.md", to_markdown),
}


def replace_atomically(path: Path, text: str) -> None:
    """Write ``path`` in one step: a reader (a platform after a timeout, a resumed batch) sees the old file or the
    new one, never half of one. The file is 0644: readable by staff tools, writable only by its owner."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "w") as written:
        written.write(text)
        written.flush()
        os.fsync(written.fileno())
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def write_reports(report: GradeReport, directory: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        filename, render = _WRITERS[name]
        path = directory / filename
        replace_atomically(path, render(report))
        written.append(path)
    return written
