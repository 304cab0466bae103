"""The result object of a catalog run (entries, runs, failed tests, verdicts): it feeds the table and the JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from catalog.runner.settings import SHOWN_TESTS, Kind
from harness.protocol import SCORED


@dataclass(frozen=True)
class FailedTest:
    """A failed (or erroring) test: its id, the first lines of its message, and its kind of check."""

    test: str
    message: str
    check: str = SCORED  # "scored", or the finding kind (SPEC §5: the dtype a check does not score)


@dataclass(frozen=True)
class Run:
    """One implementation's share of one pytest process.

    ``status``: ``passed`` (its tests passed or skipped), ``failed`` (some
    failed or errored), ``timeout`` (killed after the limit) or ``broken`` (no
    usable report: pytest crashed, found no tests or could not load the
    implementation; ``detail`` says why). ``seconds``: what its own tests took
    (a timed-out or broken process: its whole wall time).
    """

    seed: int | None
    status: Literal["passed", "failed", "timeout", "broken"]
    seconds: float
    tests: int = 0
    skipped: int = 0
    failures: tuple[FailedTest, ...] = ()
    errors: tuple[FailedTest, ...] = ()
    detail: str = ""
    spared: int = 0  # tests not run because the implementation was already killed (``--kills``)

    @property
    def clean(self) -> bool:
        """Nothing scored failed: findings (checks SPEC §5 does not score) may, and are listed."""
        return self.status in ("passed", "failed") and not self.errors and not self.scored_failures

    @property
    def scored_failures(self) -> tuple[FailedTest, ...]:
        return tuple(failure for failure in self.failures if failure.check == SCORED)


@dataclass(frozen=True)
class Entry:
    """A catalog file and its runs; ``ok`` is what the catalog demands of its kind.

    ``adapters``: the ``run_*`` functions a bug file defines itself (the rest
    are the reference's); empty for a correct implementation (it defines all).
    """

    name: str
    kind: Kind
    path: str
    description: str
    adapters: tuple[str, ...] = ()
    runs: tuple[Run, ...] = ()

    def failed(self, scored: bool) -> tuple[str, ...]:
        """Distinct tests that failed in any run, scored ones or findings."""
        return tuple(dict.fromkeys(f.test for run in self.runs for f in run.failures if (f.check == SCORED) == scored))

    @property
    def killers(self) -> tuple[str, ...]:
        """For a bug, the scored checks that killed it; for a finding, the finding checks that report it."""
        return self.failed(scored=self.kind != "finding")

    @property
    def ok(self) -> bool:
        if not self.runs:
            return False
        if self.kind == "bug":
            return bool(self.killers)
        if self.kind == "finding":  # reported, and no scored check fails a precision-only defect
            return bool(self.killers) and not self.failed(scored=True)
        return all(run.clean for run in self.runs)

    @property
    def verdict(self) -> str:
        if not self.runs:
            return "NOT RUN"
        if self.kind == "correct":
            return _correct_verdict(self)
        if self.kind == "finding" and self.failed(scored=True):
            return f"SCORED CHECKS FAIL a precision-only defect: {_short_list(collapse_parameters(self.failed(True)))}"
        return _bug_verdict(self)


@dataclass(frozen=True)
class CatalogResult:
    entries: tuple[Entry, ...]
    seconds: float
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.entries) and all(entry.ok for entry in self.entries)

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    @property
    def summary(self) -> str:
        parts = []
        bugs = [entry for entry in self.entries if entry.kind == "bug"]
        if bugs:
            parts.append(f"{sum(entry.ok for entry in bugs)}/{len(bugs)} bugs killed by scored checks")
        findings = [entry for entry in self.entries if entry.kind == "finding"]
        if findings:
            parts.append(
                f"{sum(entry.ok for entry in findings)}/{len(findings)} precision defects reported as findings"
            )
        correct = [entry for entry in self.entries if entry.kind == "correct"]
        if correct:
            runs = [run for entry in correct for run in entry.runs]
            clean, passing = sum(run.clean for run in runs), sum(entry.ok for entry in correct)
            parts.append(f"{passing}/{len(correct)} correct implementations clean ({clean}/{len(runs)} runs)")
        verdict = "OK" if self.ok else "FAILED"
        return f"{verdict}: " + "; ".join(parts or ["nothing ran"]) + f" in {self.seconds:.0f} s"

    def to_json(self) -> dict[str, object]:
        """The same facts as the table, for machines: every entry with its verdict and all its runs."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "entries": [
                {**asdict(entry), "ok": entry.ok, "verdict": entry.verdict, "killed_by": list(entry.killers)}
                for entry in self.entries
            ],
        }


def _short_list(names: Sequence[str], limit: int = SHOWN_TESTS) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … (+{len(names) - limit})" if len(names) > limit else "")


def collapse_parameters(tests: Iterable[str]) -> list[str]:
    """``mod::test[float32]``, ``mod::test[float16]`` → ``mod::test[×2]``: one name per property."""
    counts: dict[str, int] = {}
    for test in tests:
        base = test.split("[", 1)[0]
        counts[base] = counts.get(base, 0) + 1
    return [f"{base}[×{count}]" if count > 1 else base for base, count in counts.items()]


def _bug_verdict(entry: Entry) -> str:
    killers = entry.killers
    if killers:
        properties = collapse_parameters(killers)
        spared = sum(run.spared for run in entry.runs)
        stopped = f", {spared} more spared" if spared else ""
        verb = "reported as a finding by" if entry.kind == "finding" else "killed by"
        return f"{verb} {len(properties)} ({len(killers)} tests{stopped}): {_short_list(properties)}"
    run = entry.runs[0]
    if run.status == "timeout":
        return f"TIMED OUT after {run.seconds:.0f} s, nothing failed before"
    if run.status == "broken" or run.errors:
        reason = run.detail or (run.errors[0].message.splitlines() or ["error"])[0]
        return f"ERROR (not a kill): {reason}"
    findings = entry.failed(scored=False)
    if entry.kind == "bug" and findings:
        return f"SURVIVED every scored check (only findings: {_short_list(collapse_parameters(findings))})"
    return f"SURVIVED ({run.tests} tests passed or skipped)"


def _correct_verdict(entry: Entry) -> str:
    clean = sum(run.clean for run in entry.runs)
    findings = entry.failed(scored=False)
    text = f"{clean}/{len(entry.runs)} runs clean" + (f" ({len(findings)} findings)" if findings else "")
    if clean == len(entry.runs):
        return text
    problems = []
    for run in entry.runs:
        if run.status in ("timeout", "broken"):
            problems.append(f"seed {run.seed}: {run.status.upper()} {run.detail}".rstrip())
        for failure in (*run.scored_failures, *run.errors):
            first = failure.message.splitlines()[0] if failure.message else ""
            problems.append(f"seed {run.seed}: {failure.test}: {first}")
    return f"{text}; " + " | ".join(problems[:SHOWN_TESTS]) + (" | …" if len(problems) > SHOWN_TESTS else "")
