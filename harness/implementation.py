"""Load the implementation under test: the reference's adapters, or a submission's adapters module.

A submission is given as a path to an adapters file, or as a repository root
in the course layout (``tests/adapters.py``), imported with the root on
``sys.path`` exactly as the course's own test run does.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ENV_VAR = "TRANSFORMER_IMPL"
REFERENCE = "reference"
REFERENCE_MODULE = "reference.adapters"


class ImplementationError(RuntimeError):
    """The implementation under test cannot be found or imported; the message says why."""


def locate_adapters(spec: str | Path) -> tuple[Path, Path]:
    """``(adapters file, import root)`` for a file or a course repository root (``tests/adapters.py``)."""
    path = Path(spec).expanduser().resolve()
    if path.is_dir():
        candidate = path / "tests" / "adapters.py"
        if not candidate.is_file():
            raise ImplementationError(f"{path} is a directory without tests/adapters.py (the course layout)")
        return candidate, path
    if not path.is_file():
        raise ImplementationError(f"no adapters file or repository at {path}")
    return path, path.parent.parent if path.parent.name == "tests" else path.parent


def load_adapters(spec: str | Path | None) -> ModuleType:
    """``None`` or ``"reference"`` gives the reference adapters; anything else is a path, imported here.

    Importing runs the submission in this process: only for code you trust
    (the grader runs it in a box instead, ``grader/sandbox.py``).
    """
    if spec is None or str(spec) == REFERENCE:
        return importlib.import_module(REFERENCE_MODULE)
    path, root = locate_adapters(spec)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module_spec = importlib.util.spec_from_file_location("submission_adapters", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        hint = ""
        if isinstance(error, importlib.metadata.PackageNotFoundError):
            # The course's package asks for its own version at import; only the sandbox answers for it.
            hint = f" (install it, pip install -e {root}, or grade it with python -m grader, which tolerates this)"
        raise ImplementationError(
            f"importing {path} failed: {type(error).__name__}: {error}{hint}; nothing of it can be tested"
        ) from error
    return module
