"""Name the likely bug: compare a failing adapter's output with the known bugs of the catalog.

For each adapter of a failed problem, the submission, the reference and every
catalog bug that overrides that adapter run on the adapter's fixed, seeded
samples (``harness/protocol.py``). When the submission's output matches a
bug's (and the bug's differs from the reference's), the report names that bug
in the student's words, e.g.
"RoPE pairs feature k with k + d/2 instead of 2k with 2k+1".
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from harness import budget
from harness.assertions import Tolerance, mismatch
from harness.differential import reference_adapter
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


def _run(function: Callable[..., Any], case: Sample) -> Any:
    args, kwargs = case
    try:
        with torch.no_grad():
            return function(*args, **kwargs)
    except Exception as error:  # an output that could not be computed compares as different from everything
        return error


def _correct(name: str, output: Any, case: Sample) -> bool:
    """``output`` passes the suite's differential judgement on this case (``harness/budget.py``).

    On float64 the bar is ``FLOAT64_NOISE``, finer than the suite's float64 default (which float32 arithmetic can
    meet on outputs below 1): a float64 finding the suite reported elsewhere must still find its likely cause here.
    """
    args, kwargs = case
    arguments = dict(zip(ADAPTERS[name].parameters, args, strict=False)) | kwargs
    oracle = reference_adapter(name)
    truth = budget.float64_truth(oracle, arguments)
    dtype = _floats(arguments)[0].dtype
    if not (isinstance(output, torch.Tensor) and (output.shape, output.dtype) == (truth.shape, dtype)):
        return False
    tol = FLOAT64_NOISE if dtype == torch.float64 else budget.budget(oracle, arguments, dtype, truth)
    return mismatch(output, truth, tol) is None


def _floats(arguments: dict[str, Any]) -> list[torch.Tensor]:
    tensors = []
    for value in arguments.values():
        values = value.values() if isinstance(value, dict) else [value]
        tensors += [item for item in values if isinstance(item, torch.Tensor) and item.is_floating_point()]
    return tensors


def likely_bugs(adapters: list[str], call_submission: Callable[..., Any]) -> list[str]:
    """Descriptions of the catalog bugs whose outputs the submission reproduces on the fixed inputs.

    A bug matches when, on every case where its output differs from the
    reference's, the submission's output equals the bug's (and there is at
    least one such case), so a bug that only shows on large inputs is named
    only if the submission fails there in the same way.
    """
    found: list[str] = []
    for name in adapters:
        if name not in ADAPTERS:
            continue
        cases = ADAPTERS[name].samples()
        submitted = [_run(functools.partial(call_submission, name), case) for case in cases]
        if all(_correct(name, s, case) for s, case in zip(submitted, cases, strict=True)):
            continue
        for description, module in _catalog():
            bug = getattr(module, name, None)
            if bug is None or bug is getattr(reference, name):
                continue
            bugged = [_run(bug, case) for case in cases]
            showing = [i for i, (b, case) in enumerate(zip(bugged, cases, strict=True)) if not _correct(name, b, case)]
            if showing and all(_close(submitted[i], bugged[i]) for i in showing):
                found.append(f"{name}: {description}")
    return found
