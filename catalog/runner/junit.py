"""A catalog process's JUnit XML read into runs: ids carry the implementation (``impl.NAME``), seed (``seed.N``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from catalog.runner.results import FailedTest, Run
from catalog.runner.settings import IMPL_PREFIX, MESSAGE_LINES, SEED_PREFIX, SPARED
from harness.protocol import SCORED


@dataclass(frozen=True)
class Case:
    """One test case of a JUnit report: the test id, and the implementation and seed it ran with."""

    test: str
    implementation: str | None
    outcome: Literal["passed", "failed", "error", "skipped", "spared"]
    message: str = ""
    seconds: float = 0.0
    seed: int | None = None
    check: str = SCORED


def split_parameters(name: str) -> tuple[str, str | None, int | None]:
    """``test_x[float32-impl.einsum-seed.3]`` → ``("test_x[float32]", "einsum", 3)``; absent parts → ``None``."""
    if "[" not in name or not name.endswith("]"):
        return name, None, None
    base, inside = name[:-1].split("[", 1)
    parts = inside.split("-")
    implementation = next((part for part in parts if part.startswith(IMPL_PREFIX)), None)
    seed = next((part for part in parts if re.fullmatch(re.escape(SEED_PREFIX) + r"\d+", part)), None)
    rest = [part for part in parts if part not in (implementation, seed)]
    return (
        f"{base}[{'-'.join(rest)}]" if rest else base,
        None if implementation is None else implementation.removeprefix(IMPL_PREFIX),
        None if seed is None else int(seed.removeprefix(SEED_PREFIX)),
    )


def parse_junit(xml_text: str) -> list[Case]:
    """Test cases of pytest's JUnit XML; a test id is ``module::name`` without the suite's package prefix."""
    cases = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        module = case.get("classname", "").removeprefix("properties.")
        name, implementation, seed = split_parameters(case.get("name", "?"))
        test = f"{module}::{name}" if module else name
        outcome, message = "passed", ""
        for tag, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            problem = case.find(tag)
            if problem is not None:
                outcome, message = kind, _first_lines(problem.get("message") or problem.text or "")
                if kind == "skipped" and message.startswith(SPARED):
                    outcome = "spared"
                break
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        check = properties.get("check") or SCORED
        cases.append(Case(test, implementation, outcome, message, float(case.get("time") or 0.0), seed, check))
    return cases


def runs_from_cases(
    cases: Sequence[Case], names: Sequence[str], seeds: Sequence[int | None], notes: dict[str, str]
) -> dict[str, list[Run]]:
    """Each implementation's ``Run`` per seed, from one process's cases.

    A run holds the implementation's cases of that seed and its cases without a seed (tests
    that are not Hypothesis tests run once and count for every seed); a case of no
    implementation runs none, so its failure is an error of every run, never a kill.
    """
    shared = tuple(
        FailedTest(f"{case.test} (shared)", case.message)
        for case in cases
        if case.implementation is None and case.outcome in ("failed", "error")
    )
    runs: dict[str, list[Run]] = {}
    for name in names:
        runs[name] = []
        for seed in seeds:
            if name in notes:
                runs[name].append(Run(seed, "broken", 0.0, detail=f"could not be loaded: {notes[name]}"))
                continue
            own = [c for c in cases if c.implementation == name and (c.seed is None or c.seed == seed)]
            failures = tuple(FailedTest(c.test, c.message, c.check) for c in own if c.outcome == "failed")
            errors = tuple(FailedTest(c.test, c.message) for c in own if c.outcome == "error") + shared
            skipped = sum(c.outcome == "skipped" for c in own)
            spared = sum(c.outcome == "spared" for c in own)
            status = "failed" if failures or errors else "passed"
            seconds = sum(c.seconds for c in own)
            runs[name].append(Run(seed, status, seconds, len(own) - spared, skipped, failures, errors, spared=spared))
    return runs


def _first_lines(text: str, count: int = MESSAGE_LINES) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines()[:count])
