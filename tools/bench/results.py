"""What a run measured: each job's result, the ratios, the issue's verdicts, and the ``BenchResult`` holding them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tools.bench.cases import (
    CHECKS_OFF,
    CHECKS_ON,
    FORWARD_CASES,
    HF_EAGER,
    HF_PARITY,
    PARITY_TOLERANCE,
    ForwardCase,
    forward_name,
    pair_name,
)
from tools.bench.jobs import Finished, last_line, worker_payload
from tools.bench.plan import EXAMPLE_BOXED, EXAMPLE_UNBOXED, Settings, Skip, Step, batch_name

SCHEMA_VERSION = 1

# The targets, evaluated and printed as PASS/MISS; a MISS does not fail the run.
CHECKS_OVERHEAD_LIMIT = 0.10
ISOLATION_OVERHEAD_LIMIT = 0.20  # the operating-system box may slow grading by at most this much
ISOLATION_RATIO = "grading: box (auto) vs --isolation none, time"
HF_RATIO_LIMIT = 1.25
CHECKED_SHAPE = "gpt2-small"  # where the issue sets the shape-check target

ALTERNATED = "(blocks alternated in one process)"


@dataclass
class JobResult:
    """One job's outcome. ``seconds`` is the timed quantity: wall time, or the median seconds per forward."""

    section: str
    name: str
    ok: bool
    wall_seconds: float
    peak_rss_mb: float
    seconds: float | None = None
    throughput: float | None = None
    unit: str = ""  # of throughput
    peak_device_mb: float | None = None
    detail: str = ""
    samples: list[float] = field(default_factory=list)
    # Time ratios from blocks alternated in one process, per pair_name(subject, baseline): see ``worker.alternate``.
    paired: dict[str, list[float]] = field(default_factory=dict)


def tokens_per_second(tokens: int, seconds: float) -> float:
    return tokens / seconds


def per_minute(count: int, seconds: float) -> float:
    return 60.0 * count / seconds


def interpret(step: Step, finished: Finished) -> JobResult:
    """Read a finished job by its step's kind."""
    job = JobResult(step.section, step.name, finished.exit_code == 0, finished.seconds, finished.peak_rss_mb)
    if not job.ok:
        # pytest and the grader summarise on stdout; a worker's traceback ends on stderr.
        first, second = (
            (finished.stdout, finished.stderr) if step.kind in ("wall", "batch") else (finished.stderr, finished.stdout)
        )
        job.detail = f"exit {finished.exit_code}: {last_line(first) or last_line(second)}"
        return job
    if step.kind in ("wall", "batch"):
        job.seconds = finished.seconds
        if step.kind == "batch":
            job.throughput, job.unit = per_minute(step.submissions, finished.seconds), "submissions/min"
        return job
    try:
        payload = worker_payload(finished.stdout)
    except ValueError as error:
        job.ok, job.detail = False, f"{error}: {last_line(finished.stderr)}"
        return job
    job.paired = payload["paired"]
    if step.kind == "parity":
        rounds = len(next(iter(job.paired.values()), []))
        job.detail = (
            f"float32 logits agree: max |Δ| {payload['max_abs_diff']:.1e} ≤ {PARITY_TOLERANCE:g}; "
            f"{rounds} rounds of alternated reference/HF blocks"
        )
        return job
    job.samples = payload["samples"]
    job.seconds = statistics.median(job.samples)
    job.throughput, job.unit = tokens_per_second(step.tokens, job.seconds), "tokens/s"
    if payload.get("peak_device_bytes") is not None:
        job.peak_device_mb = payload["peak_device_bytes"] / 2**20
    samples, calls = len(job.samples), payload["calls_per_sample"]
    job.detail = f"time per forward: median of {samples} samples × {calls} calls; {payload['threads']} threads"
    return job


@dataclass(frozen=True)
class Ratio:
    """``subject`` against ``baseline``, both measured in this run. ``overhead`` ratios print as +x%."""

    name: str
    value: float
    subject: str
    baseline: str
    higher_is_better: bool
    overhead: bool = False

    def shown(self) -> str:
        return f"{self.value - 1:+.1%}" if self.overhead else f"{self.value:.2f}×"


def overhead_name(case: ForwardCase) -> str:
    return f"{case.label}: shape-check overhead"


def versus_hf_name(case: ForwardCase, variant: str) -> str:
    return f"{case.label}: {variant} / HF eager, time"


def compute_ratios(jobs: Sequence[JobResult], settings: Settings) -> list[Ratio]:
    """The ratios the issue asks for, from whichever jobs succeeded.

    The forward ratios are medians of the per-round ratios of alternated blocks
    (see ``worker.alternate``), not ratios of separate jobs' medians: on a shared
    machine the load moves between jobs and swamps a few percent of overhead.
    """
    ok = {job.name: job for job in jobs if job.ok}
    ratios: list[Ratio] = []
    if EXAMPLE_BOXED in ok and EXAMPLE_UNBOXED in ok:
        boxed, bare = ok[EXAMPLE_BOXED].wall_seconds, ok[EXAMPLE_UNBOXED].wall_seconds
        ratios.append(Ratio(ISOLATION_RATIO, boxed / bare, EXAMPLE_BOXED, EXAMPLE_UNBOXED, False, overhead=True))
    one, two = batch_name(settings.batch_copies, 1), batch_name(settings.batch_copies, 2)
    if one in ok and two in ok:
        value = ok[two].throughput / ok[one].throughput
        ratios.append(Ratio("grading: 2 workers vs 1, submissions/min", value, two, one, higher_is_better=True))
    for model in settings.models:
        case = FORWARD_CASES[model]
        on, parity = forward_name(case, CHECKS_ON), forward_name(case, HF_PARITY)
        pairs = ok[on].paired if on in ok else {}
        if pair_name(CHECKS_ON, CHECKS_OFF) in pairs:
            value = statistics.median(pairs[pair_name(CHECKS_ON, CHECKS_OFF)])
            ratios.append(Ratio(overhead_name(case), value, on, f"{CHECKS_OFF} {ALTERNATED}", False, overhead=True))
        pairs = ok[parity].paired if parity in ok else {}
        for variant in (CHECKS_ON, CHECKS_OFF):
            if pair_name(variant, HF_EAGER) in pairs:
                value = statistics.median(pairs[pair_name(variant, HF_EAGER)])
                ratios.append(Ratio(versus_hf_name(case, variant), value, parity, f"{HF_EAGER} {ALTERNATED}", False))
    return ratios


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool


def checks_verdict(label: str, overhead_ratio: float) -> Verdict:
    """Shape checking costs at most ``CHECKS_OVERHEAD_LIMIT`` of the unchecked forward's time."""
    return Verdict(
        f"shape checks cost ≤ {CHECKS_OVERHEAD_LIMIT:.0%} at {label}",
        f"{overhead_ratio - 1:+.1%}",
        overhead_ratio <= 1 + CHECKS_OVERHEAD_LIMIT,
    )


def hf_verdict(label: str, time_ratio: float) -> Verdict:
    """The reference forward (checks on, as shipped) takes at most ``HF_RATIO_LIMIT`` times HF eager's time."""
    return Verdict(
        f"reference forward ≤ {HF_RATIO_LIMIT:g}× HF eager Llama at {label}",
        f"{time_ratio:.2f}×",
        time_ratio <= HF_RATIO_LIMIT,
    )


def evaluate_targets(ratios: Sequence[Ratio]) -> list[Verdict]:
    """The issue's targets for whichever ratios were measured.

    The check target names GPT-2-small; the HF target names no shape, so it is
    judged at every shape measured.
    """
    verdicts = []
    by_name = {r.name: r for r in ratios}
    if ISOLATION_RATIO in by_name:
        value = by_name[ISOLATION_RATIO].value
        limit = f"the box slows grading by ≤ {ISOLATION_OVERHEAD_LIMIT:.0%}"
        verdicts.append(Verdict(limit, f"{value - 1:+.1%}", value <= 1 + ISOLATION_OVERHEAD_LIMIT))
    for case in FORWARD_CASES.values():
        overhead = by_name.get(overhead_name(case))
        if overhead is not None and case.model == CHECKED_SHAPE:
            verdicts.append(checks_verdict(case.label, overhead.value))
        versus_hf = by_name.get(versus_hf_name(case, CHECKS_ON))
        if versus_hf is not None:
            verdicts.append(hf_verdict(case.label, versus_hf.value))
    return verdicts


@dataclass
class BenchResult:
    """Everything one run measured; the tables and the JSON are both read from it."""

    machine: dict[str, Any]
    settings: Settings
    jobs: list[JobResult]
    skipped: list[Skip] = field(default_factory=list)
    ratios: list[Ratio] = field(init=False)
    verdicts: list[Verdict] = field(init=False)

    def __post_init__(self) -> None:
        self.ratios = compute_ratios(self.jobs, self.settings)
        self.verdicts = evaluate_targets(self.ratios)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Flat ``name -> {value, unit, higher_is_better}``: what ``--compare`` lines up between runs."""
        metrics: dict[str, dict[str, Any]] = {}

        def add(name: str, value: float | None, unit: str, higher_is_better: bool) -> None:
            if value is not None:
                metrics[name] = {"value": value, "unit": unit, "higher_is_better": higher_is_better}

        for job in self.jobs:
            if job.ok:
                prefix = f"{job.section}/{job.name}"
                add(f"{prefix}/seconds", job.seconds, "s", False)
                add(f"{prefix}/throughput", job.throughput, job.unit, True)
                add(f"{prefix}/peak RSS", job.peak_rss_mb, "MiB", False)
                add(f"{prefix}/peak device memory", job.peak_device_mb, "MiB", False)
        for r in self.ratios:
            add(f"ratio/{r.name}", r.value, "×", r.higher_is_better)
        return metrics

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "machine": self.machine,
            "settings": asdict(self.settings),
            "jobs": [asdict(job) for job in self.jobs],
            "ratios": [asdict(r) | {"shown": r.shown()} for r in self.ratios],
            "verdicts": [asdict(v) for v in self.verdicts],
            "skipped": [asdict(s) for s in self.skipped],
            "metrics": self.metrics(),
        }
