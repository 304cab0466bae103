"""The rubric, as data staff edit: problems, their points, and which checks count toward each.

A check is a pytest node-id pattern (``fnmatch``) over the property and
golden suites. A problem scores its points only if every check matched to it
passes; there is no partial credit. A problem whose checks all skip as "not
implemented" is "not attempted".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")
_PROBLEM_KEYS = {"points", "checks", "adapters", "title"}
_SETTINGS_KEYS = {"suites", "hypothesis_profile", "dtypes", "call_seconds", "suite_seconds"}


class RubricError(ValueError):
    """The rubric file is malformed; the message names the key."""


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    points: float
    adapters: tuple[str, ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    problems: tuple[Problem, ...]
    suites: tuple[str, ...]
    hypothesis_profile: str
    dtypes: tuple[str, ...]
    call_seconds: float
    suite_seconds: float
    source: str

    @property
    def total_points(self) -> float:
        return sum(problem.points for problem in self.problems)


def load_rubric(path: str | Path = DEFAULT_RUBRIC) -> Rubric:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RubricError(f"{path}: {error}") from None
    settings = data.get("settings", {})
    _require_known_keys(path, "settings", settings, _SETTINGS_KEYS)
    problems = []
    for name, spec in data.get("problems", {}).items():
        _require_known_keys(path, f"problems.{name}", spec, _PROBLEM_KEYS)
        points = spec.get("points")
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise RubricError(f"{path}: problems.{name}.points must be a number >= 0, got {points!r}")
        checks = spec.get("checks")
        if not isinstance(checks, list) or not checks or not all(isinstance(c, str) for c in checks):
            raise RubricError(f"{path}: problems.{name}.checks must be a non-empty list of node-id patterns")
        problems.append(
            Problem(
                name=name,
                title=str(spec.get("title", name)),
                points=float(points),
                adapters=tuple(spec.get("adapters", ())),
                checks=tuple(checks),
            )
        )
    if not problems:
        raise RubricError(f"{path}: no [problems.*] tables")
    return Rubric(
        problems=tuple(problems),
        suites=tuple(settings.get("suites", ("properties", "golden"))),
        hypothesis_profile=str(settings.get("hypothesis_profile", "grading")),
        dtypes=tuple(settings.get("dtypes", ("float64", "float32", "float16", "bfloat16"))),
        call_seconds=float(settings.get("call_seconds", 60)),
        suite_seconds=float(settings.get("suite_seconds", 900)),
        source=str(path),
    )


def _require_known_keys(path: Path, where: str, table: object, known: set[str]) -> None:
    if not isinstance(table, dict):
        raise RubricError(f"{path}: {where} must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise RubricError(f"{path}: {where} has unknown key(s) {unknown}; known: {sorted(known)}")
