"""An adapter's vector-Jacobian product, and what changed in its arguments: the same code in the suite and in the box.

Autograd cannot cross a process boundary, so a submission graded in its box
(``grader/sandbox.py``) differentiates there: the sandbox copies this file into
the box beside the worker, which is why it imports nothing but torch. Run in
the suite's own process (``pytest properties --impl PATH``), the harness calls
the same functions, so a gradient check means the same thing either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

# How a gradient can be missing, each with where to look: the words a failed gradient check reports.
MISSING = {
    "None": "autograd computed no gradient for it: the output does not depend on it through autograd "
    "(look for .detach(), .data, torch.no_grad(), torch.tensor(...) or .numpy() on the way to the output)",
    "no grad_fn": "the output has no grad_fn: the graph was cut before the output "
    "(a .detach(), .data, torch.no_grad() or a re-wrap with torch.tensor(...) around the last step)",
    "error at backward": "backward raised: an in-place operation on a tensor autograd saved, or a custom "
    "autograd.Function whose backward fails",
}


class MissingGradient(Exception):
    """The submission's output gives no gradient for ``argument``; ``how`` is a key of ``MISSING``."""

    def __init__(self, how: str, argument: str, detail: str = "") -> None:
        super().__init__(f"{argument}: {how}" + (f" ({detail})" if detail else ""))
        self.how, self.argument, self.detail = how, argument, detail

    def explain(self, adapter: str) -> str:
        return (
            f"{adapter} gives no gradient with respect to {self.argument}: {self.how}"
            + (f" ({self.detail})" if self.detail else "")
            + f"\n  where to look: {MISSING[self.how]}"
        )


def tensor_leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, torch.Tensor]]:
    """Every tensor in a tree of arguments (lists, tuples, dicts such as a weights mapping) with its path."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from tensor_leaves(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from tensor_leaves(item, (*path, index))


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical: a NaN left alone is unchanged, and -0.0 written over 0.0 is a change."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.contiguous().view(bits), b.contiguous().view(bits))
    return torch.equal(a, b)


def snapshot(value: Any) -> list[tuple[tuple, torch.Tensor, torch.Tensor]]:
    """``(path, tensor, copy)`` for every tensor argument, taken before a call (see ``modified``)."""
    return [(path, tensor, torch.Tensor.clone(tensor.detach())) for path, tensor in tensor_leaves(value)]


def modified(before: list[tuple[tuple, torch.Tensor, torch.Tensor]]) -> list[tuple[tuple, torch.Tensor]]:
    """The arguments a call changed in place, with their new values."""
    return [(path, tensor) for path, tensor, copy in before if not same_bits(tensor.detach(), copy)]


def vjp(
    function: Callable[..., Any], arguments: dict[str, Any], wrt: Sequence[str], cotangent: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(output, {name: cotangent · ∂output/∂arguments[name]})`` through the function's own autograd graph.

    Each differentiated argument enters as a fresh leaf with the caller's values and memory layout.
    Raises ``MissingGradient`` saying how a gradient is missing; an error of the forward itself propagates.
    """
    leaves = {name: arguments[name].detach().requires_grad_() for name in wrt}
    output = function(**(arguments | leaves))
    if type(output) is not torch.Tensor:
        raise MissingGradient("no grad_fn", ", ".join(wrt), f"the output is a {type(output).__name__}")
    if output.grad_fn is None:
        raise MissingGradient("no grad_fn", ", ".join(wrt))
    if output.shape != cotangent.shape:
        detail = f"output shape {tuple(output.shape)}, the cotangent's {tuple(cotangent.shape)}"
        raise MissingGradient("error at backward", ", ".join(wrt), detail)
    try:
        gradients = torch.autograd.grad(output, list(leaves.values()), cotangent.to(output.dtype), allow_unused=True)
    except Exception as error:  # whatever the submission's backward raises is its failure, reported as such
        raise MissingGradient("error at backward", ", ".join(wrt), f"{type(error).__name__}: {error}"[:500]) from None
    for name, gradient in zip(leaves, gradients, strict=True):
        if gradient is None:
            raise MissingGradient("None", name)
    return output.detach(), dict(zip(leaves, gradients, strict=True))
