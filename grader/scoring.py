"""From check outcomes to a score per problem, by rubric: one result object for every report format."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grader.rubric import Problem, Rubric
from grader.suite_run import CheckOutcome, SuiteRun
from harness.protocol import ASPECTS, SCORED, module_problem

NOT_IMPLEMENTED = "not implemented"


@dataclass(frozen=True)
class FailedCheck:
    nodeid: str
    message: str
    kind: str = SCORED  # "scored", or the finding kind of a check the rubric does not score
    values: int | None = None  # the failing input's size, when known


def most_telling_first(failures: list[FailedCheck]) -> list[FailedCheck]:
    """A named law before the catch-all comparisons (the differential check, then golden files, which say only
    that outputs differ), float32 before other dtypes, then the smallest failing input: the failure that best
    explains the bug comes first (the likely bug, when named, is shown above them all)."""

    def key(failure: FailedCheck) -> tuple:
        module, _, test = failure.nodeid.partition("::")
        kind = 2 if module.startswith("golden/") else 1 if test.startswith("test_agrees_with_reference") else 0
        dtype = 0 if "float32" in test or not any(d in test for d in ("float64", "float16", "bfloat16")) else 1
        size = failure.values if failure.values is not None else float("inf")
        return (kind, dtype, size, failure.nodeid)

    return sorted(failures, key=key)


@dataclass
class AspectResult:
    """One aspect's checks under a problem (values, gradients, side-effects): a row of its own in every report."""

    name: str
    passed: int
    failed: int  # failed checks that cost points (of a kind the rubric scores)
    share: float | None = None  # its own share of the problem's points, when the rubric gives it one
    points: float | None = None


@dataclass
class ProblemResult:
    name: str
    title: str
    points: float
    max_points: float
    status: str  # passed | failed | incomplete | not attempted | not verified | not graded
    passed: int
    failed: int
    not_implemented: int
    failures: list[FailedCheck] = field(default_factory=list)
    likely_bugs: list[str] = field(default_factory=list)
    not_verified: list[str] = field(default_factory=list)  # checks owed a verdict that never reported
    findings: list[FailedCheck] = field(default_factory=list)  # failed checks the rubric does not score
    aspects: list[AspectResult] = field(default_factory=list)


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
    isolation: str = "not run"  # the box the submission ran in (grader/box.py): namespaces, uid or none

    def as_dict(self) -> dict:
        return asdict(self)


def score_problem(
    problem: Problem, outcomes: list[CheckOutcome], unreported: list[str], scores: tuple[str, ...] = (SCORED,)
) -> ProblemResult:
    """Points only if every counted check passed and every owed check reported; "not attempted" if all of
    them are not implemented. ``unreported``: this problem's checks that were collected but never reported
    (the run timed out, died, or its records were cut): "not verified", which scores nothing."""
    # In node-id order: with several pytest workers, outcomes arrive in whichever order they finish.
    matched = sorted(
        (o for o in outcomes if o.problem == problem.name and problem.counts(o.nodeid)), key=lambda o: o.nodeid
    )
    free = {aspect for aspect, share in problem.aspects if share == 0}  # checked and reported, costing nothing
    failed = [o for o in matched if o.outcome == "failed" and o.kind in scores and o.aspect not in free]
    findings = [o for o in matched if o.outcome == "failed" and (o.kind not in scores or o.aspect in free)]
    passed = [o for o in matched if o.outcome == "passed"]
    missing = [o for o in matched if o.outcome == "skipped" and o.message.startswith(NOT_IMPLEMENTED)]
    if failed:
        status = "failed"
    elif unreported:
        status = "not verified"
    elif passed and missing:
        status = "incomplete"
    elif passed:
        status = "passed"
    elif missing:
        status = "not attempted"
    else:
        status = "not graded"  # no check ran: the rubric leaves none of this problem's checks
    aspects = _aspect_rows(problem, matched, failed, status, bool(unreported))
    earned = problem.points if status == "passed" else sum(row.points or 0.0 for row in aspects)
    return ProblemResult(
        name=problem.name,
        title=problem.title,
        points=earned,
        max_points=problem.points,
        status=status,
        passed=len(passed),
        failed=len(failed),
        not_implemented=len(missing),
        failures=most_telling_first([FailedCheck(o.nodeid, o.message, o.kind, o.values) for o in failed]),
        not_verified=sorted(unreported),
        findings=most_telling_first([FailedCheck(o.nodeid, o.message, o.kind, o.values) for o in findings]),
        aspects=aspects,
    )


def _aspect_rows(
    problem: Problem, matched: list[CheckOutcome], failed: list[CheckOutcome], status: str, unreported: bool
) -> list[AspectResult]:
    """A row per aspect that has checks. Where the rubric gives aspects shares, each pool (an aspect with a share of
    its own, or all the other checks together) earns its share when none of its checks failed, in a problem that
    passed or failed with every check reported; "incomplete", "not verified" and the rest earn nothing."""
    shares = dict(problem.aspects)
    rest = 1.0 - sum(shares.values())
    earning = status == "passed" or (status == "failed" and not unreported)
    failed_aspects = {o.aspect for o in failed}
    rest_earned = earning and not (failed_aspects - set(shares))
    rows, rest_shown = [], False
    for aspect in ASPECTS:
        checks = [o for o in matched if o.aspect == aspect]
        if not checks:
            continue
        share = points = None
        if aspect in shares:
            share = shares[aspect]
            points = share * problem.points if earning and aspect not in failed_aspects else 0.0
        elif shares and not rest_shown:  # the other checks earn the rest once, shown on the first of their rows
            share, rest_shown = rest, True
            points = rest * problem.points if rest_earned else 0.0
        passed = sum(o.outcome == "passed" for o in checks)
        rows.append(AspectResult(aspect, passed, sum(o in failed for o in checks), share, points))
    return rows


def unreported_by_problem(run: SuiteRun) -> dict[str | None, list[str]]:
    """Collected checks without a verdict, by problem: a check's problem is its module's (``module_problem``: one
    module per adapter, enforced by the harness at collection); ``None``: a module named for no adapter, whose
    checks count toward no problem."""
    reported = {o.nodeid for o in run.outcomes}
    missing: dict[str | None, list[str]] = {}
    for nodeid in run.collected:
        if nodeid not in reported:
            missing.setdefault(module_problem(nodeid), []).append(nodeid)
    return missing


def grade(rubric: Rubric, run: SuiteRun, submission: str, device: str) -> GradeReport:
    outcomes = list(run.outcomes)
    missing = unreported_by_problem(run)
    problems = [score_problem(p, outcomes, missing.get(p.name, []), rubric.scores) for p in rubric.problems]
    scored = {p.name for p in rubric.problems}
    unassigned = [
        FailedCheck(o.nodeid, o.message)
        for o in sorted(outcomes, key=lambda o: o.nodeid)
        if o.outcome == "failed" and o.problem not in scored
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


UNFINISHED = "grading did not finish: a problem not yet verified scores 0 (the run was stopped or is still going)"


def not_yet_verified(rubric: Rubric, submission: str, device: str) -> GradeReport:
    """The report before any check ran: every problem "not verified" at 0, what a platform shows if grading never
    ends (a results file written first, so a timeout leaves this, never a missing or half-written file)."""
    problems = [ProblemResult(p.name, p.title, 0.0, p.points, "not verified", 0, 0, 0) for p in rubric.problems]
    return GradeReport(submission, device, rubric.source, 0.0, rubric.total_points, problems, suite_problem=UNFINISHED)


def so_far(rubric: Rubric, run: SuiteRun, submission: str, device: str) -> GradeReport:
    """The grade of a run still going: problems whose checks have all reported are scored, the rest "not
    verified" at 0 (what a platform shows if grading is stopped now; no likely bugs named yet)."""
    report = grade(rubric, run, submission, device)
    report.suite_problem = UNFINISHED
    return report
