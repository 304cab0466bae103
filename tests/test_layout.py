"""The layout's dependency rule, enforced: reference ← harness ← properties, golden ← catalog, grader.

Read from the import statements of every module (no import is executed), so a
forbidden edge fails here with the file and the line, before it becomes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("reference", "harness", "properties", "golden", "catalog", "grader", "tools")
# What each part may import from the project (itself always).
ALLOWED = {
    "reference": set(),
    "harness": {"reference"},
    "properties": {"reference", "harness"},
    "golden": {"reference", "harness"},
    "catalog": {"reference", "harness"},
    "grader": {"reference", "harness"},
    "tools": {"reference"},
}


def _project_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        found += [(node.lineno, name) for name in names if name.split(".")[0] in PARTS]
    return found


def _modules(part: str) -> list[Path]:
    return sorted(path for path in (ROOT / part).rglob("*.py") if "__snapshots__" not in path.parts)


@pytest.mark.parametrize("part", PARTS)
def test_a_part_imports_only_what_lies_below_it(part: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules(part)
        for line, name in _project_imports(path)
        if name.split(".")[0] not in ALLOWED[part] | {part}
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("suite", ["properties", "golden"])
def test_no_test_module_imports_another(suite: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules(suite)
        for line, name in _project_imports(path)
        if name.rpartition(".")[2].startswith("test_")
    ]
    assert not broken, "\n".join(broken)
