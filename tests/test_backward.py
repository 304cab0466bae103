"""The gradient and side-effect helpers: ``harness/backward.py`` (also run in the grader's box) and the checks in
``harness/differential.py`` built on it."""

from __future__ import annotations

import pytest
import torch

import reference.adapters as reference
from harness import backward
from harness.differential import argument_name, gradient_agrees, gradients, leaves_inputs_unchanged
from harness.inputs import block_weights, make_tensor

CPU = torch.device("cpu")


def _implementation(function_for_name):
    """An ``implementation`` fixture's lookup in this process, each adapter with ``.vjp`` (harness/pytest_plugin.py)."""

    def lookup(name):
        function = function_for_name(name)

        def call(*args, **kwargs):
            return function(*args, **kwargs)

        call.vjp = lambda arguments, wrt, cotangent: backward.vjp(function, arguments, wrt, cotangent)
        return call

    return lookup


REFERENCE = _implementation(lambda name: getattr(reference, name))


def _softmax_arguments() -> dict:
    return {"in_features": make_tensor(1, (3, 5), scale=3.0), "dim": -1}


def test_vjp_gives_the_output_and_each_gradient() -> None:
    x = make_tensor(0, (2, 3))
    output, found = backward.vjp(lambda in_features: 3 * in_features, {"in_features": x}, ["in_features"], x)
    assert torch.equal(output, 3 * x) and not output.requires_grad
    assert torch.equal(found["in_features"], 3 * x)


@pytest.mark.parametrize(
    ("function", "how"),
    [
        (lambda in_features: in_features.detach() * 2, "no grad_fn"),
        (lambda in_features: (in_features.detach() * 2).requires_grad_() * 1, "None"),
        (lambda in_features: 2.0, "no grad_fn"),
    ],
    ids=["detached", "cut-below-a-new-leaf", "not-a-tensor"],
)
def test_vjp_says_how_a_gradient_is_missing(function, how) -> None:
    x = make_tensor(0, (2, 3))
    with pytest.raises(backward.MissingGradient) as missing:
        backward.vjp(function, {"in_features": x}, ["in_features"], torch.ones(2, 3))
    assert missing.value.how == how
    assert backward.MISSING[how] in missing.value.explain("run_x")


def test_vjp_reports_an_error_at_backward() -> None:
    def divides_saved_output_in_place(in_features):
        exps = in_features.exp()
        exps /= 2
        return exps

    x = make_tensor(0, (2, 3))
    with pytest.raises(backward.MissingGradient, match="inplace") as missing:
        backward.vjp(divides_saved_output_in_place, {"in_features": x}, ["in_features"], torch.ones(2, 3))
    assert missing.value.how == "error at backward"


def test_modified_compares_bits_through_mappings() -> None:
    x, nan = make_tensor(0, (4,)), torch.tensor([float("nan"), 0.0])
    arguments = {"x": x, "weights": {"w": torch.zeros(2)}, "nan": nan}
    before = backward.snapshot(arguments)
    assert backward.modified(before) == []  # a NaN left alone is unchanged
    arguments["weights"]["w"][1] = -0.0  # -0.0 == 0.0, yet the caller's bits changed
    assert [argument_name(path) for path, _ in backward.modified(before)] == ["weights['w']"]


def test_gradient_agrees_accepts_the_reference_in_every_dtype() -> None:
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        arguments = {
            name: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for name, v in _softmax_arguments().items()
        }
        gradient_agrees(REFERENCE, "run_softmax", arguments, seed=0, dtype=dtype, device=CPU)


def test_gradient_agrees_rejects_a_wrong_gradient_with_a_right_forward() -> None:
    def detached_normaliser(in_features, dim):
        exps = (in_features - in_features.amax(dim, keepdim=True)).exp()
        return exps / exps.sum(dim, keepdim=True).detach()

    wrong = _implementation(lambda name: detached_normaliser)
    with pytest.raises(AssertionError, match="gradient with respect to in_features agrees"):
        gradient_agrees(wrong, "run_softmax", _softmax_arguments(), seed=0, dtype=torch.float32, device=CPU)


def test_a_missing_gradient_fails_saying_how_and_where_to_look() -> None:
    detached = _implementation(lambda name: lambda in_features, dim: torch.softmax(in_features.detach(), dim))
    with pytest.raises(AssertionError, match=r"no grad_fn[\s\S]*where to look: .*\.detach\(\)"):
        gradients(detached, "run_softmax", _softmax_arguments(), ["in_features"], torch.ones(3, 5))


def test_leaves_inputs_unchanged_names_a_weight_changed_in_place() -> None:
    def scales_a_weight(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features):
        weights["ln1.weight"].mul_(2)
        return reference.run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features)

    arguments = {
        "d_model": 8, "num_heads": 2, "d_ff": 12, "max_seq_len": 8, "theta": 10000.0,
        "weights": block_weights(0, 8, 12, torch.float32, "cpu"), "in_features": make_tensor(1, (1, 3, 8)),
    }  # fmt: skip
    leaves_inputs_unchanged(REFERENCE, "run_transformer_block", arguments)
    changed = _implementation(lambda name: scales_a_weight)
    with pytest.raises(AssertionError, match=r"it modified weights\['ln1.weight'\] in place"):
        leaves_inputs_unchanged(changed, "run_transformer_block", arguments)
