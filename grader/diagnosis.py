"""Name the likely bug: compare a failing adapter's outputs with the known bugs of the catalog.

For each adapter of a failed problem, the submission runs on the adapter's fixed, seeded samples
(``harness/protocol.py``: several ranks, layouts, dtypes, theta values and position shapes, so a bug
that shows only on some of them shows on one). A catalog bug (or precision finding) is named when, on
every sample where the bug's outcome is wrong, the submission's outcome is the same as the bug's,
e.g. "RoPE pairs feature k with k + d/2 instead of 2k with 2k+1". An outcome is an output or a
failure, so a bug that raises (a view of a non-contiguous input) is named like one that computes
wrong: a failure is the same as one of the same exception type (see ``_explains`` for the rest).

Bugs whose outcomes coincide on every sample cannot be told apart here: a submission matching one
matches them all, and all are named, each an acceptable likely cause (the same fix, as far as the
samples can tell). No two of the catalog's coincide today (``tests/test_diagnosis.py``).

The reference, truth, budget and every catalog bug's outcomes on the samples do not depend on the
submission, so they are computed once per adapter in this process and reused.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from grader.sandbox import SubmissionRaised
from harness import budget
from harness.assertions import Tolerance, mismatch
from harness.differential import reference_adapter, tensors_of
from harness.protocol import ADAPTERS, Sample
from reference import adapters as reference
from reference.checks import checks

# Bugs, and precision defects (findings): a likely cause is named for both.
CATALOG = tuple(Path(__file__).resolve().parents[1] / "catalog" / folder for folder in ("bugs", "findings"))
# Two outputs "match" up to rounding noise; on float64 the noise allowed is small enough that float32
# arithmetic counts as a difference, so precision bugs are told apart.
NOISE = Tolerance(1e-4, 1e-5, "rounding noise")
FLOAT64_NOISE = Tolerance(1e-10, 1e-12, "float64 rounding noise")


@dataclass(frozen=True)
class Failure:
    """An outcome that is not an output: the type of the exception raised.

    Its message is left out: the same mistake fails with different messages in differently written code (a
    broadcast in ``*`` or in ``einsum``), so only where the type matches does a failure tell something.
    """

    kind: str

    @classmethod
    def of(cls, error: Exception) -> Failure:
        # Through the sandbox the submission's exception arrives as its type's name.
        raised = error.raised if isinstance(error, SubmissionRaised) else ""
        return cls(raised or type(error).__name__)


Outcome = Any  # what an adapter returned (a tensor, unless it is badly wrong), or a Failure


@dataclass(frozen=True)
class Case:
    """One sample with what judges an output on it: the float64 truth and SPEC §5's budget around it."""

    sample: Sample
    truth: torch.Tensor
    dtype: torch.dtype
    tolerance: Tolerance

    def correct(self, output: Outcome) -> bool:
        """``output`` passes the suite's differential judgement on this case (``harness/budget.py``)."""
        if not (isinstance(output, torch.Tensor) and (output.shape, output.dtype) == (self.truth.shape, self.dtype)):
            return False
        return mismatch(output, self.truth, self.tolerance) is None


@dataclass(frozen=True)
class Showing:
    """A catalog bug that is wrong on some samples: its description and its outcome on every sample."""

    description: str
    outcomes: tuple[Outcome, ...]
    wrong: tuple[int, ...]  # the samples where it is wrong


@functools.cache
def _catalog() -> tuple[tuple[str, ModuleType], ...]:
    """``(description, module)`` of every catalog bug (trusted code of this repository)."""
    bugs = []
    for path in sorted(path for folder in CATALOG for path in folder.glob("*.py") if not path.name.startswith("_")):
        spec = importlib.util.spec_from_file_location(f"catalog_bug_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = (module.__doc__ or path.stem).strip().splitlines()[0]
        bugs.append((description, module))
    return tuple(bugs)


def _run(function: Callable[..., Any], sample: Sample) -> Outcome:
    args, kwargs = sample
    try:
        # Without the reference's run-time shape checks, a bug built on the reference's functions fails where and
        # how plain torch code does (a broadcasting error, not a type-check error), as a student's code would.
        with torch.no_grad(), checks(False):
            return function(*args, **kwargs)
    except Exception as error:  # a bug that raises is known by how it raises
        return Failure.of(error)


def _same(a: Outcome, b: Outcome) -> bool:
    """The same failure, or tensors of one shape and dtype equal up to rounding noise (``NOISE``, ``FLOAT64_NOISE``)."""
    if isinstance(a, Failure) or isinstance(b, Failure):
        return a == b
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (a.shape, a.dtype) == (b.shape, b.dtype)):
        return False
    return mismatch(a, b, FLOAT64_NOISE if a.dtype == torch.float64 else NOISE) is None


def _case(name: str, sample: Sample) -> Case:
    """On float64 the bar is ``FLOAT64_NOISE``, finer than the suite's float64 default (which float32 arithmetic can
    meet on outputs below 1): a float64 finding the suite reported elsewhere must still find its likely cause here.
    """
    args, kwargs = sample
    arguments = dict(zip(ADAPTERS[name].parameters, args, strict=False)) | kwargs
    oracle = reference_adapter(name)
    truth = budget.float64_truth(oracle, arguments)
    dtype = next(t.dtype for t in tensors_of(arguments).values() if t.is_floating_point())
    tolerance = FLOAT64_NOISE if dtype == torch.float64 else budget.budget(oracle, arguments, dtype, truth)
    return Case(sample, truth, dtype, tolerance)


@functools.cache
def _judged(name: str) -> tuple[tuple[Case, ...], tuple[Showing, ...]]:
    """The adapter's cases, and the catalog bugs wrong on at least one of them with their outcomes on all."""
    cases = tuple(_case(name, sample) for sample in ADAPTERS[name].samples())
    showing = []
    for description, module in _catalog():
        bug = getattr(module, name, None)
        if bug is None or bug is getattr(reference, name):
            continue
        outcomes = tuple(_run(bug, case.sample) for case in cases)
        wrong = tuple(
            i for i, (outcome, case) in enumerate(zip(outcomes, cases, strict=True)) if not case.correct(outcome)
        )
        if wrong:
            showing.append(Showing(description, outcomes, wrong))
    return cases, tuple(showing)


def likely_bugs(adapters: list[str], call_submission: Callable[..., Any]) -> list[str]:
    """Descriptions of the catalog bugs whose outcomes the submission reproduces on the fixed samples.

    A bug matches when, on every sample where its outcome is wrong, the submission's outcome is the
    same (and there is at least one such sample), so a bug that only shows on large inputs is named
    only if the submission fails there in the same way.
    """
    found: list[str] = []
    for name in adapters:
        if name not in ADAPTERS:
            continue
        cases, showing = _judged(name)
        # Fresh samples for the submission: an adapter that modifies its inputs cannot change the cached cases.
        submitted = [_run(functools.partial(call_submission, name), sample) for sample in ADAPTERS[name].samples()]
        if all(case.correct(s) for s, case in zip(submitted, cases, strict=True)):
            continue
        found += [f"{name}: {bug.description}" for bug in showing if _explains(bug, submitted)]
    return found


def _explains(bug: Showing, submitted: list[Outcome]) -> bool:
    """The submission's outcome is the bug's wherever the bug is wrong; and where the bug is wrong only by raising,
    which says little, the submission raises on exactly the samples where the bug does."""
    if not all(_same(submitted[i], bug.outcomes[i]) for i in bug.wrong):
        return False
    if not all(isinstance(bug.outcomes[i], Failure) for i in bug.wrong):
        return True
    return {i for i, outcome in enumerate(submitted) if isinstance(outcome, Failure)} == set(bug.wrong)
