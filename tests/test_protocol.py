"""The adapter protocol (``harness/protocol.py``) is complete, and every check declares the adapters it calls."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import reference.adapters as reference
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from harness.protocol import ADAPTERS, PROBLEMS

ROOT = Path(__file__).resolve().parents[1]
SUITE_MODULES = sorted((ROOT / "properties").glob("test_*.py")) + sorted((ROOT / "golden").glob("test_*.py"))


def test_every_reference_adapter_is_in_the_protocol_and_nothing_else() -> None:
    assert set(ADAPTERS) == {name for name in dir(reference) if name.startswith("run_")}


def test_every_adapter_belongs_to_exactly_one_problem() -> None:
    owners = [name for problem in PROBLEMS.values() for name in problem.adapters]
    assert sorted(owners) == sorted(ADAPTERS)
    assert all(PROBLEMS[adapter.problem].adapters.count(name) == 1 for name, adapter in ADAPTERS.items())


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_samples_call_the_reference_by_its_own_signature(name: str) -> None:
    """The diagnosis calls adapters positionally with these samples: they must bind to the course's signature."""
    adapter = ADAPTERS[name]
    for args, kwargs in adapter.samples():
        inspect.signature(adapter.reference).bind(*args, **kwargs)
        assert adapter.reference(*args, **kwargs).isfinite().all()


def test_the_default_rubric_scores_every_problem_of_the_protocol() -> None:
    assert {problem.name for problem in load_rubric(DEFAULT_RUBRIC).problems} == set(PROBLEMS)


def _declares_adapters(module: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        for node in module.body
    )


@pytest.mark.parametrize("path", SUITE_MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_suite_module_that_calls_adapters_declares_them(path: Path) -> None:
    """A check without an ``adapters`` marker would count toward no problem: its failure could cost nothing."""
    source = path.read_text()
    calls_adapters = "implementation" in source or "golden.adapter(" in source
    if calls_adapters:
        assert _declares_adapters(ast.parse(source)), f"{path.name} calls adapters but has no pytestmark adapters(...)"
