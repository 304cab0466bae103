"""Name the likely bug: compare a failing adapter's behaviour with the known bugs of the catalog.

For each adapter of a failed problem, the submission, the reference and every
catalog bug that overrides that adapter run on the adapter's fixed, seeded
samples (``harness/protocol.py``). Each run is seen three ways: the output, the
gradients of the activation inputs for a fixed cotangent (or how they are
missing), and which arguments it changed in place; a bug whose forward is right
shows only in the last two. When the submission matches a bug wherever the
bug's behaviour differs from the reference's, the report names that bug in the
student's words, e.g. "RoPE pairs feature k with k + d/2 instead of 2k with 2k+1".
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

from harness import backward, budget
from harness.assertions import Tolerance, mismatch
from harness.differential import argument_name, reference_adapter, reference_gradient
from harness.inputs import make_tensor
from harness.protocol import ADAPTERS, Sample
from reference import adapters as reference

# Bugs, and precision defects (findings): a likely cause is named for both.
CATALOG = tuple(Path(__file__).resolve().parents[1] / "catalog" / folder for folder in ("bugs", "findings"))
# Two outputs "match" up to rounding noise; on float64 the noise allowed is small enough that float32
# arithmetic counts as a difference, so precision bugs are told apart.
NOISE = Tolerance(1e-4, 1e-5, "rounding noise")
FLOAT64_NOISE = Tolerance(1e-10, 1e-12, "float64 rounding noise")


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


def _close(a: Any, b: Any) -> bool:
    """Same shape and dtype, and values equal up to rounding noise (``NOISE``, ``FLOAT64_NOISE``)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (a.shape, a.dtype) == (b.shape, b.dtype)):
        return False
    return mismatch(a, b, FLOAT64_NOISE if a.dtype == torch.float64 else NOISE) is None


@dataclass(frozen=True)
class _Behaviour:
    """One implementation on one sample: its output (or error), its gradients (or how they are missing, or
    ``None`` when not observed), and the names of the arguments it changed in place."""

    output: Any
    gradients: Any
    modified: frozenset[str]


def _arguments(name: str, case: Sample) -> dict[str, Any]:
    args, kwargs = case
    return dict(zip(ADAPTERS[name].parameters, args, strict=False)) | kwargs


def _wrt(name: str, arguments: dict[str, Any]) -> list[str]:
    return [argument for argument in ADAPTERS[name].differentiable if arguments.get(argument) is not None]


def _cotangent(name: str, arguments: dict[str, Any]) -> torch.Tensor:
    """A fixed cotangent of the reference output's shape and dtype."""
    with torch.no_grad():
        output = reference_adapter(name)(**arguments)
    return make_tensor(0, tuple(output.shape), output.dtype, output.device)


def _observe(name: str, call: Callable[..., Any], vjp: Callable[..., Any] | None, case_index: int) -> _Behaviour:
    """``call`` and ``vjp`` on fresh copies of sample ``case_index`` (a bug may change its arguments)."""
    case = ADAPTERS[name].samples()[case_index]
    before = backward.snapshot(case)
    try:
        with torch.no_grad():
            output = call(*case[0], **case[1])
    except Exception as error:  # an output that could not be computed compares as different from everything
        output = error
    parameters = ADAPTERS[name].parameters
    modified = frozenset(
        argument_name((parameters[path[1]] if path[0] == 0 else path[1], *path[2:]))
        for path, _ in backward.modified(before)
    )
    gradients = None
    arguments = _arguments(name, ADAPTERS[name].samples()[case_index])
    wrt = _wrt(name, arguments)
    if vjp is not None and wrt:
        try:
            gradients = vjp(arguments, wrt, _cotangent(name, arguments))[1]
        except backward.MissingGradient as missing:
            gradients = missing.how
        except Exception:  # the forward itself fails when its inputs require grad (an in-place op on a leaf)
            gradients = "error in the forward"
    return _Behaviour(output, gradients, modified)


@functools.cache
def _judgement(name: str, case_index: int, argument: str | None) -> tuple[torch.Tensor, Tolerance, torch.dtype]:
    """The float64 truth of sample ``case_index``'s output (``argument`` None) or of its gradient with respect to
    ``argument``, and what the suite demands of it (``harness/budget.py``); measured once per grading.

    On float64 the bar is ``FLOAT64_NOISE``, finer than the suite's float64 default (which float32 arithmetic can
    meet on outputs below 1): a float64 finding the suite reported elsewhere must still find its likely cause here.
    """
    arguments = _arguments(name, ADAPTERS[name].samples()[case_index])
    function = (
        reference_adapter(name) if argument is None else reference_gradient(name, argument, _cotangent(name, arguments))
    )
    truth = budget.float64_truth(function, arguments)
    dtype = _floats(arguments)[0].dtype
    tol = FLOAT64_NOISE if dtype == torch.float64 else budget.budget(function, arguments, dtype, truth)
    return truth, tol, dtype


def _correct_value(name: str, case_index: int, argument: str | None, value: Any) -> bool:
    """``value`` passes the suite's differential judgement on this sample."""
    truth, tol, dtype = _judgement(name, case_index, argument)
    if not (isinstance(value, torch.Tensor) and (value.shape, value.dtype) == (truth.shape, dtype)):
        return False
    return mismatch(value, truth, tol) is None


def _deviations(name: str, behaviour: _Behaviour, case_index: int) -> set[str]:
    """Which of output, gradients and side effects differ from what a correct implementation does on this sample."""
    deviations = set()
    if not _correct_value(name, case_index, None, behaviour.output):
        deviations.add("output")
    gradients = behaviour.gradients
    if gradients is not None and not (
        isinstance(gradients, dict)
        and all(_correct_value(name, case_index, argument, value) for argument, value in gradients.items())
    ):
        deviations.add("gradients")
    if behaviour.modified:
        deviations.add("modified")
    return deviations


def _same(aspect: str, a: _Behaviour, b: _Behaviour) -> bool:
    if aspect == "output":
        return _close(a.output, b.output)
    if aspect == "modified":
        return a.modified == b.modified
    if isinstance(a.gradients, dict) and isinstance(b.gradients, dict):
        return a.gradients.keys() == b.gradients.keys() and all(
            _close(a.gradients[k], b.gradients[k]) for k in a.gradients
        )
    return isinstance(a.gradients, str) and a.gradients == b.gradients  # missing the same way


def _floats(arguments: dict[str, Any]) -> list[torch.Tensor]:
    tensors = []
    for value in arguments.values():
        values = value.values() if isinstance(value, dict) else [value]
        tensors += [item for item in values if isinstance(item, torch.Tensor) and item.is_floating_point()]
    return tensors


def _in_process_vjp(function: Callable[..., Any]) -> Callable[..., Any]:
    return lambda arguments, wrt, cotangent: backward.vjp(function, arguments, wrt, cotangent)


def likely_bugs(
    adapters: list[str], call_submission: Callable[..., Any], vjp_submission: Callable[..., Any] | None = None
) -> list[str]:
    """Descriptions of the catalog bugs whose behaviour the submission reproduces on the fixed inputs.

    ``call_submission(name, *args, **kwargs)`` calls an adapter of the submission; ``vjp_submission(name,
    arguments, wrt, cotangent)`` differentiates one (``harness.backward.vjp``, in the box); without it gradients
    are not compared. A bug matches when, on every sample and aspect where its behaviour differs from a correct
    one, the submission's equals the bug's (and there is at least one such place), so a bug that only shows on
    large inputs is named only if the submission fails there in the same way.
    """
    found: list[str] = []
    for name in adapters:
        if name not in ADAPTERS:
            continue
        indices = range(len(ADAPTERS[name].samples()))
        call = functools.partial(call_submission, name)
        vjp = functools.partial(vjp_submission, name) if vjp_submission is not None else None
        submitted = [_observe(name, call, vjp, i) for i in indices]
        if not any(_deviations(name, behaviour, i) for i, behaviour in zip(indices, submitted, strict=True)):
            continue
        for description, module in _catalog():
            bug = getattr(module, name, None)
            if bug is None or bug is getattr(reference, name):
                continue
            showing = []
            for i in indices:
                behaviour = _observe(name, bug, _in_process_vjp(bug) if vjp is not None else None, i)
                showing += [(i, aspect, behaviour) for aspect in _deviations(name, behaviour, i)]
            if showing and all(_same(aspect, submitted[i], behaviour) for i, aspect, behaviour in showing):
                found.append(f"{name}: {description}")
    return found
