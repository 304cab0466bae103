"""Flatten a catalog bug into one standalone adapters file: a submission the sandboxed grader can grade.

A bug file reads as "the reference with one thing wrong": it imports the
reference's adapters (``from reference.adapters import *``) and, for the
``mha_*`` bugs, a shared base (``catalog/bugs/_multihead_self_attention.py``).
Neither exists for a submission in the grader's box, so flattening inlines the
catalog modules it imports and puts an independently written correct
implementation (``catalog/correct/einsum_adapters.py``) where the reference's
adapters were. The result imports only the standard library and torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

from catalog.runner.settings import CATALOG

STAND_IN = CATALOG / "correct" / "einsum_adapters.py"  # for ``reference.adapters``: standalone and correct
_PROJECT = ("reference", "catalog", "harness", "grader", "properties", "golden", "tools")


class FlattenError(ValueError):
    """The file imports something of the project that cannot be inlined."""


def flatten(path: Path, stand_in: Path = STAND_IN) -> str:
    """The source of ``path`` with every project import replaced by the code it imports."""
    imports: list[str] = []
    bodies: list[str] = []
    done: set[Path] = set()

    def inline(module: Path, keep_docstring: bool) -> None:
        if module in done:
            return
        done.add(module)
        tree = ast.parse(module.read_text(encoding="utf-8"))
        lines = module.read_text(encoding="utf-8").splitlines()
        body: list[str] = []
        for index, node in enumerate(tree.body):
            text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                if keep_docstring:
                    imports.insert(0, text)
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            source = _project_module(node)
            if source is not None:
                inline(stand_in if source == "reference.adapters" else _catalog_path(source), keep_docstring=False)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                if text not in imports:
                    imports.append(text)
            else:
                body.append(text)
        bodies.append(f"# ---- from {module.relative_to(CATALOG.parent)}\n\n" + "\n\n\n".join(body))

    inline(path, keep_docstring=True)
    docstring, *rest = imports if imports and imports[0].startswith('"""') else ("", *imports)
    header = "\n\n".join(part for part in (docstring, "from __future__ import annotations", "\n".join(rest)) if part)
    return header + "\n\n\n" + "\n\n\n".join(bodies) + "\n"


def _project_module(node: ast.stmt) -> str | None:
    """The project module an import statement names, or ``None`` for anything else."""
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _PROJECT:
        return node.module
    if isinstance(node, ast.Import) and any(alias.name.split(".")[0] in _PROJECT for alias in node.names):
        raise FlattenError(f"`import {node.names[0].name}`: only `from ... import` of the project can be inlined")
    return None


def _catalog_path(module: str) -> Path:
    if module == "reference.adapters" or not module.startswith("catalog."):
        raise FlattenError(f"imports {module}: only reference.adapters and catalog modules can be inlined")
    path = CATALOG.parent.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        raise FlattenError(f"imports {module}, which is not a file of the catalog")
    return path
