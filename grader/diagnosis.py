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

from harness.assertions import Tolerance, mismatch
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
        expected = [_run(getattr(reference, name), case) for case in cases]
        if all(_close(s, e) for s, e in zip(submitted, expected, strict=True)):
            continue
        for description, module in _catalog():
            bug = getattr(module, name, None)
            if bug is None or bug is getattr(reference, name):
                continue
            bugged = [_run(bug, case) for case in cases]
            showing = [i for i, (b, e) in enumerate(zip(bugged, expected, strict=True)) if not _close(b, e)]
            if showing and all(_close(submitted[i], bugged[i]) for i in showing):
                found.append(f"{name}: {description}")
    return found
