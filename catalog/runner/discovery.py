"""Find catalog entries: one file per bug or correct implementation, its docstring, the adapters it defines."""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path

from catalog.runner.results import Entry
from catalog.runner.settings import FOLDERS, Kind
from harness.protocol import ADAPTERS


def _module(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None


def description(path: Path) -> str:
    """First line of the module docstring, read without importing (a bug file may not even import)."""
    module = _module(path)
    if module is None:
        return "(unreadable: not a Python module)"
    docstring = ast.get_docstring(module)
    return docstring.strip().splitlines()[0].strip() if docstring else "(no docstring)"


def defined_adapters(path: Path) -> tuple[str, ...]:
    """The ``run_*`` names a module defines or assigns at top level (``import *`` ones excluded)."""
    module = _module(path)
    if module is None:
        return ()
    names = []
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):  # ``run_a = ...`` and ``run_a, run_b = adapters(Bug)``
            targets = [
                t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])
            ]
            names += [target.id for target in targets if isinstance(target, ast.Name)]
    return tuple(name for name in dict.fromkeys(names) if name in ADAPTERS)


def discover(catalog: Path, kinds: Iterable[Kind], only: Sequence[str] = ()) -> list[Entry]:
    """Catalog files of the given kinds (``bugs/``, ``findings/``, ``correct/``), filtered by name or glob."""
    entries = []
    for kind in kinds:
        for path in sorted((catalog / FOLDERS[kind]).glob("*.py")):
            if path.name.startswith("_"):
                continue
            if only and not any(fnmatch.fnmatch(path.stem, pattern) for pattern in only):
                continue
            adapters = defined_adapters(path) if kind != "correct" else ()
            entries.append(Entry(path.stem, kind, str(path), description(path), adapters))
    return entries
