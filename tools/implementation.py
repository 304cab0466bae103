"""Load the implementation under test: the reference's adapters, or a submission's adapters module.

A submission is given as a path to an adapters file, or as a repository root
in the course layout (``tests/adapters.py``), imported with the root on
``sys.path`` exactly as the course's own test run does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ENV_VAR = "TRANSFORMER_IMPL"
REFERENCE = "reference"


class ImplementationError(RuntimeError):
    """The implementation under test cannot be found or imported; the message says why."""


def adapters_path(spec: str | Path) -> Path:
    """The adapters file that ``spec`` (a file, or a repository root) designates."""
    path = Path(spec).expanduser().resolve()
    if path.is_dir():
        candidate = path / "tests" / "adapters.py"
        if not candidate.is_file():
            raise ImplementationError(f"{path} is a directory without tests/adapters.py (the course layout)")
        return candidate
    if not path.is_file():
        raise ImplementationError(f"no adapters file or repository at {path}")
    return path


def load_adapters(spec: str | Path | None) -> ModuleType:
    """``None`` or ``"reference"`` gives the reference adapters; anything else is a path."""
    if spec is None or str(spec) == REFERENCE:
        return importlib.import_module("reference.adapters")
    path = adapters_path(spec)
    root = path.parent.parent if path.parent.name == "tests" else path.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module_spec = importlib.util.spec_from_file_location("submission_adapters", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise ImplementationError(
            f"importing {path} failed: {type(error).__name__}: {error}; nothing of it can be tested"
        ) from error
    return module
