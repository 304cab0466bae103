"""The rubric, as data staff edit: which problems count, their points, and which checks to leave out.

Problems, their titles and their adapters come from the adapter protocol
(``harness/protocol.py``); a check counts toward the problem of the adapter it
tests (its ``adapters`` marker), so a new check needs no rubric edit. A rubric
sets each problem's points (the course's weights by default) and may
``exclude`` checks by pytest node-id pattern (``fnmatch``). A problem scores
its points only if every check counted toward it passes; there is no partial
credit. A problem whose checks all skip as "not implemented" is "not attempted".
Checks SPEC §5 does not score by default (float64, float16 and bfloat16 values
of most adapters) fail as findings: reported with the evidence, no points lost,
unless ``[settings] scores`` names their kind (``rubrics/library.toml`` scores all).

Checks verify one of three aspects (``harness/protocol.py`` ASPECTS): values, gradients or side effects. By
default all of a problem's checks earn its points together. ``aspects = {gradients = 0.25}`` (per problem, or
under ``[settings]`` for every problem that sets none) gives an aspect that share of the problem's points,
earned by its own checks alone, the other checks earning the rest; a share of 0 makes the aspect's failures
findings (checked and reported, costing nothing). To leave checks out entirely, ``exclude`` them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from harness.protocol import ASPECTS, FINDING_KINDS, PROBLEMS, SCORED, VALUES

RUBRICS = Path(__file__).with_name("rubrics")
DEFAULT_RUBRIC = RUBRICS / "default.toml"
_PROBLEM_KEYS = {"points", "exclude", "title", "aspects"}
_SETTINGS_KEYS = {
    "suites", "hypothesis_profile", "dtypes", "call_seconds", "check_seconds", "suite_seconds", "scores", "aspects",
}  # fmt: skip


class RubricError(ValueError):
    """The rubric file is malformed; the message names the key."""


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    points: float
    adapters: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    # Aspects with their own share of the points (gradients, side-effects); the other checks earn the rest.
    aspects: tuple[tuple[str, float], ...] = ()

    def counts(self, nodeid: str) -> bool:
        """Whether a check of this problem's adapters counts (is not excluded by the rubric)."""
        return not any(fnmatchcase(nodeid, pattern) for pattern in self.exclude)


@dataclass(frozen=True)
class Rubric:
    problems: tuple[Problem, ...]
    suites: tuple[str, ...]
    hypothesis_profile: str
    dtypes: tuple[str, ...]
    call_seconds: float
    suite_seconds: float
    source: str
    check_seconds: float = 120.0  # all the calls of one check together
    # Which kinds of check cost points: "scored" (SPEC §5's default) and any finding kinds ("float64", ...).
    scores: tuple[str, ...] = (SCORED,)

    @property
    def total_points(self) -> float:
        return sum(problem.points for problem in self.problems)


def load_rubric(path: str | Path = DEFAULT_RUBRIC) -> Rubric:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RubricError(f"{path}: {error}") from None
    settings = data.get("settings", {})
    _require_known_keys(path, "settings", settings, _SETTINGS_KEYS)
    default_aspects = _aspects(path, "settings.aspects", settings.get("aspects", {}))
    tables = data.get("problems", {})
    _require_known_keys(path, "problems", tables, set(PROBLEMS))
    problems = []
    for name, spec in tables.items():
        _require_known_keys(path, f"problems.{name}", spec, _PROBLEM_KEYS)
        points = spec.get("points", PROBLEMS[name].points)
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise RubricError(f"{path}: problems.{name}.points must be a number >= 0, got {points!r}")
        exclude = spec.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(pattern, str) for pattern in exclude):
            raise RubricError(f"{path}: problems.{name}.exclude must be a list of node-id patterns")
        problems.append(
            Problem(
                name=name,
                title=str(spec.get("title", PROBLEMS[name].title)),
                points=float(points),
                adapters=PROBLEMS[name].adapters,
                exclude=tuple(exclude),
                aspects=_aspects(path, f"problems.{name}.aspects", spec["aspects"])
                if "aspects" in spec
                else default_aspects,
            )
        )
    if not problems:
        raise RubricError(f"{path}: no [problems.*] tables; known problems: {sorted(PROBLEMS)}")
    return Rubric(
        problems=tuple(problems),
        suites=tuple(settings.get("suites", ("properties", "golden"))),
        hypothesis_profile=str(settings.get("hypothesis_profile", "grading")),
        dtypes=tuple(settings.get("dtypes", ("float64", "float32", "float16", "bfloat16"))),
        call_seconds=float(settings.get("call_seconds", 60)),
        suite_seconds=float(settings.get("suite_seconds", 900)),
        source=str(path),
        scores=_scores(path, settings.get("scores", [SCORED])),
        check_seconds=float(settings.get("check_seconds", 2 * float(settings.get("call_seconds", 60)))),
    )


def _scores(path: Path, kinds: object) -> tuple[str, ...]:
    if not isinstance(kinds, list) or not kinds or not all(isinstance(kind, str) for kind in kinds):
        raise RubricError(f'{path}: settings.scores must be a non-empty list of check kinds, e.g. ["scored"]')
    unknown = sorted(set(kinds) - {SCORED, *FINDING_KINDS})
    if unknown:
        raise RubricError(f"{path}: settings.scores names unknown kind(s) {unknown}; known: {[SCORED, *FINDING_KINDS]}")
    return tuple(kinds)


def _aspects(path: Path, where: str, table: object) -> tuple[tuple[str, float], ...]:
    """``{aspect: share}``: known aspects other than values (which earn the rest), shares in [0, 1] summing to ≤ 1."""
    _require_known_keys(path, where, table, set(ASPECTS) - {VALUES})
    shares = tuple(table.items())
    if not all(not isinstance(v, bool) and isinstance(v, int | float) and 0 <= v <= 1 for _, v in shares):
        raise RubricError(f"{path}: {where} values must be shares of the problem's points between 0 and 1")
    if sum(v for _, v in shares) > 1:
        raise RubricError(f"{path}: {where} shares add up to more than 1")
    return tuple((name, float(share)) for name, share in shares)


def _require_known_keys(path: Path, where: str, table: object, known: set[str]) -> None:
    if not isinstance(table, dict):
        raise RubricError(f"{path}: {where} must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise RubricError(f"{path}: {where} has unknown key(s) {unknown}; known: {sorted(known)}")
