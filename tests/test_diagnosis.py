"""The diagnosis names the likely bug: every catalogued bug and finding, graded as a submission, is named, and
correct code is named nothing.

Graded in-process (the diagnosis's comparisons are the same as through the sandbox, which one test checks),
so the whole catalog takes seconds: the reference's and the catalog's outcomes on the samples are computed
once per adapter and shared by every submission.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

from catalog.runner.flatten import flatten
from grader.diagnosis import likely_bugs
from grader.sandbox import Limits, Sandbox
from harness.backward import vjp
from harness.protocol import ADAPTERS
from reference import adapters as reference

CATALOG = Path(__file__).resolve().parents[1] / "catalog"
BUGS = sorted(path for folder in ("bugs", "findings") for path in (CATALOG / folder).glob("*.py"))
BUGS = [path for path in BUGS if not path.name.startswith("_")]
CORRECT = sorted((CATALOG / "correct").glob("*.py"))
BY_DESCRIPTION = {ast.get_docstring(ast.parse(path.read_text())).splitlines()[0]: path for path in BUGS}


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"diagnosed_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _description(path: Path) -> str:
    return _load(path).__doc__.strip().splitlines()[0]


def _calling(module: object):
    return lambda name, *args, **kwargs: getattr(module, name)(*args, **kwargs)


def _differentiating(module: object):
    return lambda name, arguments, wrt, cotangent: vjp(getattr(module, name), arguments, wrt, cotangent)


def _overridden(module: ModuleType) -> list[str]:
    return [name for name in ADAPTERS if getattr(module, name, None) not in (None, getattr(reference, name))]


def _named(adapters: list[str], module: object) -> set[str]:
    """The descriptions ``likely_bugs`` names for ``module`` graded as the submission."""
    return {entry.split(": ", 1)[1] for entry in likely_bugs(adapters, _calling(module), _differentiating(module))}


@pytest.mark.parametrize("path", BUGS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_a_catalogued_bug_graded_as_a_submission_is_named(path: Path) -> None:
    """Bugs visible only on other ranks, layouts, theta or positions, and bugs that raise, are named too, once per
    adapter they break. Another bug named with it must have the same fix as far as the samples tell: graded as
    the submission, it names this one in turn."""
    module = _load(path)
    adapters = _overridden(module)
    assert adapters, f"{path.stem} overrides no adapter"
    named = _named(adapters, module)
    assert _description(path) in named, f"{path.stem} is not named: {named}"
    for other in named - {_description(path)}:
        assert _description(path) in _named(adapters, _load(BY_DESCRIPTION[other])), f"{other} named with it"


@pytest.mark.parametrize("path", CORRECT, ids=lambda path: path.stem)
def test_correct_code_is_named_no_likely_bug(path: Path) -> None:
    """A likely bug named for correct code would be a false accusation."""
    module = _load(path)
    for name in ADAPTERS:
        assert likely_bugs([name], _calling(module), _differentiating(module)) == [], name


# The most common bug in course repositories, written as students write it (a cos/sin cache indexed by the
# positions, torch's attention kernel), not as the catalog does: (batch, seq) positions not broadcast over heads.
class _RoPE:
    def __init__(self, theta: float, d_k: int, max_seq_len: int) -> None:
        inverse_frequency = 1.0 / theta ** (torch.arange(0, d_k, 2).float() / d_k)
        angles = torch.outer(torch.arange(max_seq_len).float(), inverse_frequency)
        self.cos, self.sin = angles.cos(), angles.sin()

    def __call__(self, x: torch.Tensor, token_positions: torch.Tensor) -> torch.Tensor:
        cos, sin = self.cos[token_positions].to(x.dtype), self.sin[token_positions].to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class _Student:
    """Course-style adapters with the ``bugs`` named (``"theta"``, ``"batch"``, ``"positions"``)."""

    def __init__(self, *bugs: str) -> None:
        self.bugs = set(bugs)

    def run_rope(self, d_k, theta, max_seq_len, in_query_or_key, token_positions):
        theta = 10000.0 if "theta" in self.bugs else theta
        return _RoPE(theta, d_k, max_seq_len)(in_query_or_key, token_positions)

    def run_multihead_self_attention(
        self, d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features
    ):
        weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
        return self._attention(d_model, num_heads, weights, in_features, None)

    def run_multihead_self_attention_with_rope(
        self,
        d_model,
        num_heads,
        max_seq_len,
        theta,
        q_proj_weight,
        k_proj_weight,
        v_proj_weight,
        o_proj_weight,
        in_features,
        token_positions=None,
    ):
        weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
        return self._attention(d_model, num_heads, weights, in_features, (max_seq_len, theta, token_positions))

    def _attention(self, d_model, num_heads, weights, x, rope):
        if "batch" in self.bugs:
            first, seq, _ = x.shape
            batch = [first]
        else:
            *batch, seq, _ = x.shape
        d_k = d_model // num_heads

        def heads(weight: torch.Tensor) -> torch.Tensor:
            return (x @ weight.T).view(*batch, seq, num_heads, d_k).transpose(-3, -2)

        q, k, v = (heads(weight) for weight in weights[:3])
        if rope is not None:
            max_seq_len, theta, positions = rope
            positions = torch.arange(seq) if positions is None else positions
            if "positions" not in self.bugs:
                positions = positions.unsqueeze(-2)  # one row of positions for every head
            rotate = _RoPE(theta, d_k, max_seq_len)
            q, k = rotate(q, positions), rotate(k, positions)
        causal = torch.ones(seq, seq, dtype=torch.bool).tril()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=causal)
        return out.transpose(-3, -2).reshape(*batch, seq, d_model) @ weights[3].T


@pytest.mark.parametrize(
    ("bug", "adapters", "stem"),
    [
        ("positions", ["run_multihead_self_attention_with_rope"], "mha_rope_positions_broadcast_against_heads"),
        ("batch", ["run_multihead_self_attention", "run_multihead_self_attention_with_rope"], "mha_assumes_batch_dim"),
        ("theta", ["run_rope"], "rope_theta_hardcoded_10000"),
    ],
)
def test_the_common_bugs_are_named_as_students_write_them(bug: str, adapters: list[str], stem: str) -> None:
    """Positions not broadcast over heads (wrong when batch = heads, a crash otherwise), a batch dimension
    assumed, theta hard-coded: each named though the student's code is not the catalog's."""
    checked = ["run_rope", "run_multihead_self_attention", "run_multihead_self_attention_with_rope"]
    description = _description(CATALOG / "bugs" / f"{stem}.py")
    student = _Student(bug)
    assert likely_bugs(checked, _calling(student), _differentiating(student)) == [
        f"{name}: {description}" for name in adapters
    ]


def test_the_students_code_once_fixed_is_named_nothing() -> None:
    checked = ["run_rope", "run_multihead_self_attention", "run_multihead_self_attention_with_rope"]
    student = _Student()
    assert likely_bugs(checked, _calling(student), _differentiating(student)) == []


def test_the_grader_names_a_bug_that_raises_through_the_sandbox(tmp_path: Path) -> None:
    """The grader's own call (``grader/cli.py``): outcomes cross the wire, exceptions arrive as their type and
    message, and a non-contiguous input arrives non-contiguous."""
    path = CATALOG / "bugs" / "mha_rope_positions_broadcast_against_heads.py"
    submission = tmp_path / "adapters.py"
    submission.write_text(flatten(path), encoding="utf-8")
    with Sandbox(submission, limits=Limits(call_seconds=30.0, startup_seconds=60.0)) as sandbox:
        adapters = ["run_multihead_self_attention", "run_multihead_self_attention_with_rope"]
        named = likely_bugs(adapters, sandbox.call, sandbox.vjp)
    assert named == [f"run_multihead_self_attention_with_rope: {_description(path)}"]
