"""``harness/reproduction.py``: the snippet a failure carries runs as pasted and makes the very same calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import reproduction
from harness.assertions import assert_law

ADAPTERS = """
import torch

CALLS = []

def run_softmax(in_features, dim):
    CALLS.append((in_features.dtype, tuple(in_features.shape), in_features.stride(), in_features.tolist(), dim))
    return torch.softmax(in_features, dim) * 1.01
"""


def _run_as_pasted(repository: Path, snippet: str) -> str:
    """The snippet run from the repository's root in a fresh interpreter, then what the adapters module saw."""
    program = snippet + "\nprint('SEEN', adapters.CALLS)\n"
    return subprocess.run(
        [sys.executable, "-c", program], cwd=repository, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "adapters.py").write_text(textwrap.dedent(ADAPTERS))
    return tmp_path


def test_the_snippet_rebuilds_values_dtype_and_layout_exactly(repository: Path) -> None:
    x = torch.tensor([[1.0, -float("inf")], [1e-40, 3.0]], dtype=torch.float32).t()  # transposed, subnormal, -inf
    half = torch.tensor([0.1, 65504.0], dtype=torch.float16)
    calls = [("run_softmax", {"in_features": x, "dim": 0}), ("run_softmax", {"in_features": half, "dim": -1})]
    seen = _run_as_pasted(repository, reproduction.snippet(calls, "properties/test_softmax.py::test_x"))
    expected = [
        (torch.float32, (2, 2), (1, 2), x.tolist(), 0),
        (torch.float16, (2,), (1,), half.tolist(), -1),
    ]
    assert f"SEEN {expected!r}" in seen


def test_a_gradient_checks_snippet_differentiates_with_the_checks_cotangent(repository: Path) -> None:
    """The snippet of a gradient check prints the gradient the check judged: the input as a leaf, the output's
    backward with the very cotangent."""
    x = torch.tensor([[0.5, -1.0, 2.0]])
    cotangent = torch.tensor([[1.0, 0.25, -3.0]])
    call = reproduction.Call("run_softmax", {"in_features": x, "dim": -1}, ("in_features",), cotangent)
    seen = _run_as_pasted(repository, reproduction.snippet([call], "properties/test_softmax.py::test_x"))
    leaf = x.clone().requires_grad_()
    (torch.softmax(leaf, -1) * 1.01).backward(cotangent)
    assert f"gradient of in_features: {leaf.grad}" in seen
    assert reproduction.values([call]) == 6


def test_inputs_too_large_to_paste_are_named_by_shape_with_the_command_to_rerun() -> None:
    big = torch.zeros(reproduction.MAX_VALUES + 1)
    text = reproduction.snippet([("run_softmax", {"in_features": big, "dim": -1})], "properties/test_softmax.py::t")
    assert f"in_features=<({reproduction.MAX_VALUES + 1},) float32>" in text
    assert "python -m pytest 'properties/test_softmax.py::t' --impl path/to/your/repo" in text
    assert "torch.tensor(" not in text


def test_a_broken_law_carries_the_calls_of_its_own_hypothesis_example_only(repository: Path) -> None:
    examples = []

    @settings(max_examples=5, database=None, derandomize=True)
    @given(st.integers(1, 3))
    def law(n: int) -> None:
        x = torch.arange(float(n))
        reproduction.LOG.record("run_softmax", {"in_features": x, "dim": -1})
        examples.append(n)
        if n == 3:
            assert_law(torch.softmax(x, -1) * 1.01, torch.softmax(x, -1), "softmax sums to one")

    reproduction.LOG.start("tests/test_reproduction.py::law")
    with pytest.raises(AssertionError) as failure:
        law()
    snippet = next(note for note in failure.value.__notes__ if reproduction.MARKER in note)
    assert len(examples) > 1 and snippet.count("adapters.run_softmax(") == 1, "only the failing example's call"
    assert "[0.0, 1.0, 2.0]" in _run_as_pasted(repository, snippet)


def test_attach_adds_the_snippet_once() -> None:
    reproduction.LOG.start("t")
    reproduction.LOG.record("run_softmax", {"in_features": torch.ones(2), "dim": -1})
    error = reproduction.attach(reproduction.attach(AssertionError("law broken")))
    assert len(error.__notes__) == 1 and reproduction.MARKER in error.__notes__[0]
