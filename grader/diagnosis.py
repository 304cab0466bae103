"""Name the likely bug: compare a failing adapter's behaviour with the known bugs of the catalog.

For each adapter of a failed problem, the submission runs on the adapter's fixed, seeded samples
(``harness/protocol.py``: several ranks, layouts, dtypes, theta values and position shapes, so a bug
that shows only on some of them shows on one). Each run is seen three ways (its *aspects*): the
output, the gradients of the activation inputs for a fixed cotangent (or how they are missing), and
the arguments it changed in place; a bug whose forward is right shows only in the last two. A catalog
bug (or precision finding) is named when, wherever the bug is wrong, the submission does the same as
the bug, e.g. "RoPE pairs feature k with k + d/2 instead of 2k with 2k+1". An output or a gradient may
be a failure, so a bug that raises (a view of a non-contiguous input) is named like one that computes
wrong: a failure is the same as one of the same exception type (see ``_explains`` for the rest).

Bugs that do the same on every sample cannot be told apart here: a submission matching one matches
them all, and all are named, each an acceptable likely cause (the same fix, as far as the samples can
tell). No two of the catalog's coincide today (``tests/test_diagnosis.py``).

The reference, truths, budgets and every catalog bug's behaviour on the samples do not depend on the
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
from harness import backward, budget
from harness.assertions import Tolerance, mismatch
from harness.differential import argument_name, reference_adapter, reference_gradient
from harness.inputs import make_tensor
from harness.protocol import ADAPTERS, Sample
from reference import adapters as reference
from reference.checks import checks

# Bugs, and precision defects (findings): a likely cause is named for both.
CATALOG = tuple(Path(__file__).resolve().parents[1] / "catalog" / folder for folder in ("bugs", "findings"))
# Two outputs "match" up to rounding noise; on float64 the noise allowed is small enough that float32
# arithmetic counts as a difference, so precision bugs are told apart.
NOISE = Tolerance(1e-4, 1e-5, "rounding noise")
FLOAT64_NOISE = Tolerance(1e-10, 1e-12, "float64 rounding noise")
OUTPUT, GRADIENTS, MODIFIED = "output", "gradients", "modified"


@dataclass(frozen=True)
class Failure:
    """An outcome that is not a value: the type of the exception raised, or how a gradient is missing.

    Its message is left out: the same mistake fails with different messages in differently written code (a
    broadcast in ``*`` or in ``einsum``), so only where the type matches does a failure tell something.
    """

    kind: str

    @classmethod
    def of(cls, error: Exception) -> Failure:
        if isinstance(error, backward.MissingGradient):
            return cls(f"gradient: {error.how}")
        # Through the sandbox the submission's exception arrives as its type's name.
        raised = error.raised if isinstance(error, SubmissionRaised) else ""
        return cls(raised or type(error).__name__)


Outcome = Any  # what an adapter returned (a tensor, unless it is badly wrong), or a Failure


@dataclass(frozen=True)
class Observed:
    """One implementation on one sample: its output, its gradients by argument (``None`` when not observed) and
    the names of the arguments it changed in place."""

    output: Outcome
    gradients: dict[str, torch.Tensor] | Failure | None
    modified: frozenset[str]

    def aspect(self, aspect: str) -> Any:
        return {OUTPUT: self.output, GRADIENTS: self.gradients, MODIFIED: self.modified}[aspect]


@dataclass(frozen=True)
class Judge:
    """The float64 truth of one value and SPEC §5's budget around it (``harness/budget.py``)."""

    truth: torch.Tensor
    dtype: torch.dtype
    tolerance: Tolerance

    def correct(self, value: Outcome) -> bool:
        if not (isinstance(value, torch.Tensor) and (value.shape, value.dtype) == (self.truth.shape, self.dtype)):
            return False
        return mismatch(value, self.truth, self.tolerance) is None


@dataclass(frozen=True)
class Case:
    """One sample with what judges an implementation on it: the output's judge, and where gradients are observed,
    the cotangent and one judge per differentiated argument."""

    sample: Sample
    output: Judge
    cotangent: torch.Tensor | None
    gradients: dict[str, Judge]

    def wrong(self, observed: Observed) -> set[str]:
        """The aspects in which ``observed`` is not what a correct implementation does on this case."""
        aspects = set() if self.output.correct(observed.output) else {OUTPUT}
        found = observed.gradients
        if found is not None and not (
            isinstance(found, dict)
            and found.keys() == self.gradients.keys()
            and all(judge.correct(found[argument]) for argument, judge in self.gradients.items())
        ):
            aspects.add(GRADIENTS)
        if observed.modified:
            aspects.add(MODIFIED)
        return aspects


@dataclass(frozen=True)
class Showing:
    """A catalog bug that is wrong on some samples: its description, what it does on every sample, and where
    (sample, aspect) it is wrong."""

    description: str
    observed: tuple[Observed, ...]
    wrong: tuple[tuple[int, str], ...]


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


def _arguments(name: str, sample: Sample) -> dict[str, Any]:
    args, kwargs = sample
    return dict(zip(ADAPTERS[name].parameters, args, strict=False)) | kwargs


def _wrt(name: str, arguments: dict[str, Any]) -> list[str]:
    return [argument for argument in ADAPTERS[name].differentiable if arguments.get(argument) is not None]


def _judge(function: Callable[..., torch.Tensor], arguments: dict[str, Any], dtype: torch.dtype) -> Judge:
    """On float64 the bar is ``FLOAT64_NOISE``, finer than the suite's float64 default (which float32 arithmetic can
    meet on outputs below 1): a float64 finding the suite reported elsewhere must still find its likely cause here.
    """
    truth = budget.float64_truth(function, arguments)
    tolerance = FLOAT64_NOISE if dtype == torch.float64 else budget.budget(function, arguments, dtype, truth)
    return Judge(truth, dtype, tolerance)


def _case(name: str, sample: Sample, with_gradients: bool) -> Case:
    arguments = _arguments(name, sample)
    oracle = reference_adapter(name)
    dtype = next(t.dtype for _, t in backward.tensor_leaves(arguments) if t.is_floating_point())
    output = _judge(oracle, arguments, dtype)
    wrt = _wrt(name, arguments) if with_gradients else []
    if not wrt:
        return Case(sample, output, None, {})
    cotangent = make_tensor(0, tuple(output.truth.shape), dtype, output.truth.device)
    gradients = {a: _judge(reference_gradient(name, a, cotangent), arguments, dtype) for a in wrt}
    return Case(sample, output, cotangent, gradients)


def _observe(name: str, call: Callable[..., Any], vjp: Callable[..., Any] | None, cases: tuple[Case, ...]) -> tuple:
    """``call`` (and ``vjp``, where given) on fresh copies of the samples: an implementation may change its
    arguments, and the cached cases must stay as they are."""
    parameters = ADAPTERS[name].parameters
    # A second fresh copy for the gradients: the forward call may have changed the first one in place.
    untouched = ADAPTERS[name].samples() if vjp is not None else []
    observed = []
    for index, sample in enumerate(ADAPTERS[name].samples()):
        before = backward.snapshot(sample)
        args, kwargs = sample
        try:
            # Without the reference's run-time shape checks, a bug built on the reference's functions fails where
            # and how plain torch code does (a broadcasting error, not a type-check error), as a student's would.
            with torch.no_grad(), checks(False):
                output = call(*args, **kwargs)
        except Exception as error:  # a bug that raises is known by how it raises
            output = Failure.of(error)
        modified = frozenset(
            argument_name((parameters[path[1]] if path[0] == 0 else path[1], *path[2:]))
            for path, _ in backward.modified(before)
        )
        case, gradients = cases[index], None
        if vjp is not None and case.cotangent is not None:
            arguments = _arguments(name, untouched[index])
            try:
                with checks(False):
                    gradients = vjp(arguments, list(case.gradients), case.cotangent)[1]
            except Exception as error:  # a missing gradient, or a forward that fails when its inputs require grad
                gradients = Failure.of(error)
        observed.append(Observed(output, gradients, modified))
    return tuple(observed)


def _close(a: Any, b: Any) -> bool:
    """Tensors of one shape and dtype equal up to rounding noise (``NOISE``, ``FLOAT64_NOISE``)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (a.shape, a.dtype) == (b.shape, b.dtype)):
        return False
    return mismatch(a, b, FLOAT64_NOISE if a.dtype == torch.float64 else NOISE) is None


def _same(a: Any, b: Any) -> bool:
    """The same failure, the same arguments changed, or values (one tensor, or gradients by argument) equal up to
    rounding noise."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[key], b[key]) for key in a)
    if isinstance(a, Failure | frozenset) or isinstance(b, Failure | frozenset):
        return a == b
    return _close(a, b)


def _in_process_vjp(function: Callable[..., Any]) -> Callable[..., Any]:
    return lambda arguments, wrt, cotangent: backward.vjp(function, arguments, wrt, cotangent)


@functools.cache
def _judged(name: str, with_gradients: bool) -> tuple[tuple[Case, ...], tuple[Showing, ...]]:
    """The adapter's cases, and the catalog bugs wrong on at least one of them with what they do on all."""
    cases = tuple(_case(name, sample, with_gradients) for sample in ADAPTERS[name].samples())
    showing = []
    for description, module in _catalog():
        bug = getattr(module, name, None)
        if bug is None or bug is getattr(reference, name):
            continue
        observed = _observe(name, bug, _in_process_vjp(bug) if with_gradients else None, cases)
        wrong = tuple((i, aspect) for i, case in enumerate(cases) for aspect in sorted(case.wrong(observed[i])))
        if wrong:
            showing.append(Showing(description, observed, wrong))
    return cases, tuple(showing)


def likely_bugs(
    adapters: list[str], call_submission: Callable[..., Any], vjp_submission: Callable[..., Any] | None = None
) -> list[str]:
    """Descriptions of the catalog bugs whose behaviour the submission reproduces on the fixed samples.

    ``call_submission(name, *args, **kwargs)`` calls an adapter of the submission; ``vjp_submission(name,
    arguments, wrt, cotangent)`` differentiates one (``harness.backward.vjp``, in the box); without it gradients
    are not compared. A bug matches when, on every sample and aspect where it is wrong, the submission does the
    same (and there is at least one such place), so a bug that only shows on large inputs is named only if the
    submission fails there in the same way.
    """
    found: list[str] = []
    for name in adapters:
        if name not in ADAPTERS:
            continue
        cases, showing = _judged(name, vjp_submission is not None)
        vjp = functools.partial(vjp_submission, name) if vjp_submission is not None else None
        submitted = _observe(name, functools.partial(call_submission, name), vjp, cases)
        if not any(case.wrong(s) for s, case in zip(submitted, cases, strict=True)):
            continue
        explaining = [bug for bug in showing if _explains(bug, submitted)]
        # A bug that accounts for only part of what another named bug accounts for is not named beside it: a RoPE
        # rotating the wrong way has the gradients of a hand-written backward that rotates the wrong way, and more.
        found += [
            f"{name}: {bug.description}"
            for bug in explaining
            if not any(set(bug.wrong) < set(other.wrong) for other in explaining)
        ]
    return found


def _explains(bug: Showing, submitted: tuple[Observed, ...]) -> bool:
    """The submission does what the bug does wherever the bug is wrong; and where the bug is wrong only by raising,
    which says little, the submission raises in exactly the places where the bug does."""
    if not all(_same(submitted[i].aspect(aspect), bug.observed[i].aspect(aspect)) for i, aspect in bug.wrong):
        return False
    if not all(isinstance(bug.observed[i].aspect(aspect), Failure) for i, aspect in bug.wrong):
        return True
    raising = {
        (i, aspect)
        for i, observed in enumerate(submitted)
        for aspect in (OUTPUT, GRADIENTS)
        if isinstance(observed.aspect(aspect), Failure)
    }
    return raising == set(bug.wrong)
