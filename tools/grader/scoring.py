"""From check outcomes to a score per problem, by rubric: one result object for every report format."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase

from tools.grader.rubric import Problem, Rubric
from tools.grader.suite_run import CheckOutcome

NOT_IMPLEMENTED = "not implemented"


@dataclass(frozen=True)
class FailedCheck:
    nodeid: str
    message: str


@dataclass
class ProblemResult:
    name: str
    title: str
    points: float
    max_points: float
    status: str  # passed | failed | incomplete | not attempted | not graded
    passed: int
    failed: int
    not_implemented: int
    failures: list[FailedCheck] = field(default_factory=list)
    likely_bugs: list[str] = field(default_factory=list)


@dataclass
class GradeReport:
    submission: str
    device: str
    rubric: str
    score: float
    max_score: float
    problems: list[ProblemResult]
    unloadable: str | None = None
    suite_problem: str | None = None
    unassigned_failures: list[FailedCheck] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def score_problem(problem: Problem, outcomes: list[CheckOutcome]) -> ProblemResult:
    """Points only if every matched check passed; "not attempted" if all of them are not implemented."""
    # In node-id order: with several pytest workers, outcomes arrive in whichever order they finish.
    matched = sorted(
        (o for o in outcomes if any(fnmatchcase(o.nodeid, pattern) for pattern in problem.checks)),
        key=lambda o: o.nodeid,
    )
    failed = [o for o in matched if o.outcome == "failed"]
    passed = [o for o in matched if o.outcome == "passed"]
    missing = [o for o in matched if o.outcome == "skipped" and o.message.startswith(NOT_IMPLEMENTED)]
    if failed:
        status = "failed"
    elif passed and missing:
        status = "incomplete"
    elif passed:
        status = "passed"
    elif missing:
        status = "not attempted"
    else:
        status = "not graded"  # no check ran: the rubric's patterns match nothing in the suites
    return ProblemResult(
        name=problem.name,
        title=problem.title,
        points=problem.points if status == "passed" else 0.0,
        max_points=problem.points,
        status=status,
        passed=len(passed),
        failed=len(failed),
        not_implemented=len(missing),
        failures=[FailedCheck(o.nodeid, o.message) for o in failed],
    )


def grade(rubric: Rubric, outcomes: list[CheckOutcome], submission: str, device: str) -> GradeReport:
    problems = [score_problem(problem, outcomes) for problem in rubric.problems]
    assigned = {pattern for problem in rubric.problems for pattern in problem.checks}
    unassigned = [
        FailedCheck(o.nodeid, o.message)
        for o in sorted(outcomes, key=lambda o: o.nodeid)
        if o.outcome == "failed" and not any(fnmatchcase(o.nodeid, pattern) for pattern in assigned)
    ]
    return GradeReport(
        submission=submission,
        device=device,
        rubric=rubric.source,
        score=sum(p.points for p in problems),
        max_score=rubric.total_points,
        problems=problems,
        unassigned_failures=unassigned,
    )


def ungradable(rubric: Rubric, submission: str, device: str, reason: str) -> GradeReport:
    """Nothing could be graded (the adapters module does not import): zero everywhere, with the reason."""
    problems = [
        ProblemResult(p.name, p.title, 0.0, p.points, "not graded", 0, 0, 0, [FailedCheck("import", reason)])
        for p in rubric.problems
    ]
    return GradeReport(submission, device, rubric.source, 0.0, rubric.total_points, problems, unloadable=reason)
