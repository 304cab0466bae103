"""Tests of the harness's own helpers: the comparison, the seeded inputs, the strategies, the differential judge.

A property is only as honest as these: an assertion that cannot fail, or a strategy that never draws the case
it names, would make every law built on them vacuous (array-api-tests keeps such tests in ``meta_tests/``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference.adapters as reference
from harness.assertions import Tolerance, assert_law, assert_tensor
from harness.differential import agrees
from harness.inputs import (
    LAYOUTS,
    broadcast_variants,
    exact_grid,
    make_tensor,
    noncontiguous,
    on_shared_grid,
    uniform,
    with_layout,
    with_new_future,
)
from harness.protocol import module_problem
from harness.strategies import attention_masks, broadcastable_shapes, head_layouts, shapes

FLOATS = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


# ----- the comparison -------------------------------------------------------------------------------------------


def test_assert_law_passes_within_tolerance_and_names_law_and_worst_element_outside() -> None:
    expected = torch.tensor([1.0, 2.0, 3.0])
    assert_law(expected + 1e-7, expected, "close enough")
    with pytest.raises(AssertionError) as error:
        assert_law(torch.tensor([1.0, 2.5, 3.0]), expected, "the law", inputs={"x": expected})
    message = str(error.value)
    assert "law broken: the law" in message
    assert "worst element (1,): got 2.5, expected 2" in message
    assert "inputs: x (3,) float32 on cpu" in message
    assert "1 of 3 elements outside tolerance" in message


def test_assert_law_treats_nan_on_one_side_as_the_worst_mismatch_and_on_both_as_agreement() -> None:
    expected = torch.tensor([1.0, float("nan"), float("inf")])
    assert_law(expected.clone(), expected, "same nans and infinities")
    with pytest.raises(AssertionError, match=r"worst element \(0,\): got nan"):
        assert_law(torch.tensor([float("nan"), float("nan"), float("inf")]), expected, "nan where a number was due")


def test_assert_law_uses_the_tolerance_it_is_given_and_says_why() -> None:
    with pytest.raises(AssertionError, match=r"rtol=0 atol=0.01 \(a reason\)"):
        assert_law(torch.tensor([1.02]), torch.tensor([1.0]), "law", tol=Tolerance(0.0, 0.01, "a reason"))
    assert_law(torch.tensor([1.02]), torch.tensor([1.0]), "law", tol=Tolerance(0.0, 0.03, "a reason"))


class _Lying(torch.Tensor):
    pass


def test_assert_tensor_rejects_subclasses_wrong_shape_dtype_and_non_tensors() -> None:
    with pytest.raises(AssertionError, match=r"not a torch\.Tensor"):
        assert_tensor(torch.zeros(2).as_subclass(_Lying), "law")
    with pytest.raises(AssertionError, match=r"not a torch\.Tensor"):
        assert_tensor([0.0, 0.0], "law")
    with pytest.raises(AssertionError, match=r"shape \(2,\), expected \(3,\); dtype torch.float32, expected"):
        assert_tensor(torch.zeros(2), "law", shape=(3,), dtype=torch.float64)


# ----- seeded inputs --------------------------------------------------------------------------------------------


def test_make_tensor_is_a_function_of_seed_shape_and_dtype_only() -> None:
    torch.manual_seed(123)  # the global generator must not matter
    first = make_tensor(7, (3, 4), torch.bfloat16, scale=2.0)
    torch.manual_seed(456)
    assert torch.equal(first, make_tensor(7, (3, 4), torch.bfloat16, scale=2.0))
    assert not torch.equal(first, make_tensor(8, (3, 4), torch.bfloat16, scale=2.0))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_with_layout_keeps_values_and_changes_only_the_memory_layout(layout: str) -> None:
    x = make_tensor(0, (2, 3, 4))
    laid = with_layout(x, layout)
    assert torch.equal(laid, x)
    assert laid.is_contiguous() == (layout == "contiguous")
    if layout == "transposed":
        with pytest.raises(RuntimeError):
            laid.view(-1, 4)  # what a student's flattening does: it must break on this layout


def test_noncontiguous_keeps_values() -> None:
    x = make_tensor(1, (3, 5))
    assert torch.equal(noncontiguous(x), x) and not noncontiguous(x).is_contiguous()


@pytest.mark.parametrize("dtype", FLOATS)
def test_exact_grid_makes_large_shifts_exact(dtype: torch.dtype) -> None:
    grid = exact_grid(dtype, 1000.0)
    x = (torch.round(make_tensor(2, (64,), torch.float64, scale=3.0) / grid) * grid).to(dtype)
    assert torch.equal(((x + 1000) - 1000), x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_golden_values_are_exact_in_every_float_dtype(dtype: torch.dtype) -> None:
    values = uniform("harness-test", (257,), 3.0)
    assert torch.equal(values.to(dtype).to(torch.float64), values)
    assert torch.equal(on_shared_grid(values), values)


def test_with_new_future_changes_only_positions_after_the_last_kept() -> None:
    x, other = torch.zeros(2, 5, 3), torch.ones(2, 5, 3)
    mixed = with_new_future(x, other, last_kept=1, dim=-2)
    assert torch.equal(mixed[:, :2], x[:, :2]) and torch.equal(mixed[:, 2:], other[:, 2:])


# ----- strategies -----------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(shape=shapes(0, 3, 4))
def test_shapes_respect_their_bounds(shape: tuple[int, ...]) -> None:
    assert len(shape) <= 3 and all(1 <= side <= 4 for side in shape)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), shape=shapes(1, 4, 4))
def test_broadcastable_shapes_broadcast_to_the_shape_and_keep_the_last_dim(data, shape) -> None:
    drawn = data.draw(broadcastable_shapes(shape))
    assert torch.broadcast_shapes(drawn, shape) == shape and drawn[-1] == shape[-1]


def test_broadcast_variants_include_the_course_shapes_and_all_broadcast() -> None:
    variants = broadcast_variants((2, 3, 5))
    assert {(5,), (1, 5), (3, 5), (2, 3, 5), (1, 1, 5)} <= set(variants)
    assert all(torch.broadcast_shapes(v, (2, 3, 5)) == (2, 3, 5) for v in variants)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_attention_masks_leave_every_query_a_key(data) -> None:
    mask = data.draw(attention_masks((2, 4, 6)))
    assert mask.dtype == torch.bool and bool(mask.any(dim=-1).all())


@settings(max_examples=30, deadline=None)
@given(layout=head_layouts())
def test_head_layouts_split_d_model_into_even_heads(layout: tuple[int, int]) -> None:
    num_heads, d_model = layout
    assert d_model % num_heads == 0 and (d_model // num_heads) % 2 == 0


# ----- the differential judge -----------------------------------------------------------------------------------


def _as_implementation(function_for_name):
    return lambda name: function_for_name(name)


def test_agrees_accepts_the_reference() -> None:
    arguments = {"in_features": make_tensor(3, (2, 5)), "dim": -1}
    agrees(_as_implementation(lambda name: getattr(reference, name)), "run_softmax", dict(arguments),
           dtype=torch.float32, device=torch.device("cpu"))  # fmt: skip


def test_agrees_rejects_a_wrong_output_dtype() -> None:
    arguments = {"in_features": make_tensor(3, (2, 5), torch.float16), "dim": -1}
    with pytest.raises(AssertionError, match=r"dtype torch\.float32, expected torch\.float16"):
        agrees(_as_implementation(lambda name: lambda in_features, dim: torch.softmax(in_features.float(), dim)),
               "run_softmax", arguments, dtype=torch.float16, device=torch.device("cpu"))  # fmt: skip


# ----- the pytest plugin ----------------------------------------------------------------------------------------


def test_dtypes_option_deselects_other_dtypes_in_both_suites() -> None:
    """``--dtypes`` is how a rubric limits the dtypes graded; a hook pytest never registered once made it a no-op."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", "golden/test_rmsnorm.py", "properties/test_rmsnorm.py",
               "--dtypes", "float32", "--co", "-q", "-p", "no:cacheprovider"]  # fmt: skip
    listed = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120).stdout.splitlines()
    ids = [line for line in listed if "::" in line]
    assert ids and all("float32" in line for line in ids), ids
    assert any(line.startswith("golden/") for line in ids) and any(line.startswith("properties/") for line in ids)


def test_secondary_settings_take_a_quarter_of_the_active_profile_unshrunk() -> None:
    from hypothesis import Phase

    from harness.strategies import secondary_settings

    grading = settings(max_examples=20, derandomize=True, database=None)  # as properties/conftest.py's "grading"
    chosen = secondary_settings(grading)
    assert chosen.max_examples == 5 and chosen.derandomize  # the profile's other settings are kept
    assert Phase.shrink not in chosen.phases
    assert secondary_settings(settings(max_examples=2)).max_examples == 3  # never below three


def test_a_check_filed_under_another_adapters_module_is_refused(tmp_path: Path) -> None:
    """The grader knows an unreported check's problem by its module's name (``module_problem``): a Linear check in
    a module named for softmax, or for no adapter, would count toward the wrong problem, so collection refuses it."""
    for module, named in (("test_softmax.py", "named for softmax"), ("test_helpers.py", "named for no adapter")):
        folder = tmp_path / module.removesuffix(".py")
        folder.mkdir()
        (folder / module).write_text(
            "import pytest\n\n@pytest.mark.adapters('run_linear')\ndef test_x():\n    pass\n", encoding="utf-8"
        )
        command = [sys.executable, "-m", "pytest", str(folder), "-p", "harness.pytest_plugin", "--co", "-q",
                   "-p", "no:cacheprovider", "--rootdir", str(folder)]  # fmt: skip
        root = Path(__file__).resolve().parents[1]
        run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
        assert run.returncode != 0 and f"in a module {named}" in run.stdout + run.stderr, run.stdout
    assert module_problem("properties/test_silu.py::test_x") == "swiglu"
    assert module_problem("golden/test_variants.py::test_x") is None
