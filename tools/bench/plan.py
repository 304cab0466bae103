"""The plan of a run: its settings, and the jobs of the chosen sections in the order they run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench import ROOT
from tools.bench.cases import CHECKS_OFF, CHECKS_ON, FORWARD_CASES, HF_EAGER, HF_PARITY, forward_name

EXAMPLE = ROOT / "examples" / "student_repo"


@dataclass(frozen=True)
class Settings:
    sections: tuple[str, ...]
    models: tuple[str, ...]
    device: str = "cpu"
    dtype: str = "float32"
    warmup: int = 3
    repeats: int = 10
    batch_copies: int = 2
    threads: int | None = None  # torch intra-op threads in forward workers; None keeps torch's default
    quick: bool = False
    hf: bool = True  # time HF Llama too, where transformers is installed
    seed: int = 0


@dataclass(frozen=True)
class Step:
    """One job to run. ``kind`` says how its outcome is read: wall, batch, forward or parity."""

    section: str
    name: str
    argv: tuple[str, ...]
    kind: str = "wall"
    submissions: int = 0  # batch: how many submissions the job grades
    tokens: int = 0  # forward: tokens per forward call
    requires: str | None = None  # the name of a step that must have succeeded first


@dataclass(frozen=True)
class Skip:
    what: str
    reason: str


def suite_steps() -> list[Step]:
    """The default property suite and the golden suite on the reference, as a user runs them."""
    return [
        Step("suites", suite, (sys.executable, "-m", "pytest", suite, "-q", "-p", "no:cacheprovider"))
        for suite in ("properties", "golden")
    ]


EXAMPLE_BOXED, EXAMPLE_UNBOXED = "example submission", "example submission, --isolation none"


def batch_name(copies: int, jobs: int) -> str:
    return f"batch of {copies}, --jobs {jobs}"


def grading_steps(scratch: Path, copies: int) -> list[Step]:
    """Grading the bundled example alone, in its box and with ``--isolation none`` (what the boundary costs), then
    ``copies`` copies of it in batch mode with 1 and 2 workers."""
    batch = scratch / "batch"
    for index in range(copies):
        shutil.copytree(
            EXAMPLE, batch / f"submission-{index:02d}", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    grade = (sys.executable, "-m", "grader")
    steps = [
        Step("grading", EXAMPLE_BOXED, (*grade, str(EXAMPLE), "--out", str(scratch / "out-single"))),
        Step(
            "grading",
            EXAMPLE_UNBOXED,
            (*grade, str(EXAMPLE), "--isolation", "none", "--out", str(scratch / "out-none")),
        ),
    ]
    for jobs in (1, 2):
        argv = (*grade, str(batch), "--batch", "--jobs", str(jobs), "--out", str(scratch / f"out-jobs{jobs}"))
        steps.append(Step("grading", batch_name(copies, jobs), argv, kind="batch", submissions=copies))
    return steps


def forward_steps(settings: Settings, scratch: Path, hf_available: bool) -> tuple[list[Step], list[Skip]]:
    """Per model: the reference with checks on and off, and (with transformers) the parity check and HF."""
    steps: list[Step] = []
    for model in settings.models:
        case = FORWARD_CASES[model]
        common = {
            "model": model,
            "batch": case.batch,
            "seq": case.seq,
            "device": settings.device,
            "dtype": settings.dtype,
            "warmup": settings.warmup,
            "repeats": settings.repeats,
            "threads": settings.threads,
            "seed": settings.seed,
            "checkpoint": str(scratch / f"hf-{model}"),
        }
        for variant, checks in ((CHECKS_ON, True), (CHECKS_OFF, False)):
            spec = common | {"impl": "reference", "checks": checks}
            steps.append(
                Step("forward", forward_name(case, variant), _worker_argv(spec), "forward", tokens=case.tokens)
            )
        if settings.hf and hf_available:
            parity = forward_name(case, HF_PARITY)
            steps.append(Step("forward", parity, _worker_argv(common | {"impl": "parity"}), "parity"))
            spec = common | {"impl": "hf"}
            name = forward_name(case, HF_EAGER)
            steps.append(Step("forward", name, _worker_argv(spec), "forward", tokens=case.tokens, requires=parity))
    skipped = []
    if not settings.hf:
        skipped.append(Skip("forward: HF Llama", "--no-hf"))
    elif not hf_available:
        skipped.append(Skip("forward: HF Llama", "transformers is not installed (pip install -e '.[hf]')"))
    return steps, skipped


def _worker_argv(spec: Mapping[str, Any]) -> tuple[str, ...]:
    # The bench starts itself in a fresh process per forward, so each has its own peak memory.
    return (sys.executable, "-m", "tools.bench", "--_forward", json.dumps(spec))


def plan(settings: Settings, scratch: Path) -> tuple[list[Step], list[Skip]]:
    """The steps of the chosen sections, in order; ``scratch`` holds the batch copies and HF's checkpoint."""
    steps: list[Step] = []
    skipped: list[Skip] = []
    if "suites" in settings.sections:
        steps += suite_steps()
    if "grading" in settings.sections:
        steps += grading_steps(scratch, settings.batch_copies)
    if "forward" in settings.sections:
        hf_available = importlib.util.find_spec("transformers") is not None
        forward, skipped = forward_steps(settings, scratch, hf_available)
        steps += forward
    return steps, skipped
