"""A failing check's adapter calls, as Python a student can paste and run with nothing but their own repository.

The ``implementation`` fixture records every adapter call of the current example (a Hypothesis example, or the
whole test); when a law breaks, the failure carries the calls of that example as a snippet: the student's
``tests/adapters.py`` imported from the repository root, each argument rebuilt from its literal values (with its
dtype and memory layout), each call's output printed. Inputs too large to paste are named by shape, and the
snippet says how to rerun the check itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from hypothesis.control import _current_build_context

# More values than this and a snippet stops being something to paste: the failure names the shapes instead.
MAX_VALUES = 256
MARKER = "Reproduce: run this from your repository's root"


class Call(NamedTuple):
    """One adapter call; a gradient check's call also names the arguments differentiated and the cotangent."""

    name: str
    arguments: dict[str, object]
    wrt: tuple[str, ...] = ()
    cotangent: torch.Tensor | None = None


@dataclass
class CallLog:
    """The adapter calls of the current example; a new Hypothesis example starts a new log."""

    nodeid: str = ""
    calls: list[Call] = field(default_factory=list)
    _example: object = None

    def start(self, nodeid: str) -> None:
        self.nodeid, self.calls, self._example = nodeid, [], None

    def record(
        self, name: str, arguments: dict[str, object], wrt: tuple[str, ...] = (), cotangent: torch.Tensor | None = None
    ) -> None:
        example = _current_build_context.value  # None outside Hypothesis: the whole test is one example
        if example is not self._example:
            self.calls, self._example = [], example
        self.calls.append(Call(name, arguments, tuple(wrt), cotangent))


LOG = CallLog()


def attach(error: BaseException) -> BaseException:
    """Add the current example's snippet to ``error`` (once) as an exception note, which every report carries."""
    if LOG.calls and not any(MARKER in note for note in getattr(error, "__notes__", ())):
        error.add_note(snippet(LOG.calls, LOG.nodeid))
    return error


def values(calls: list[Call]) -> int:
    """How many tensor values the calls took: the smaller, the more telling a failure (and the easier to paste)."""
    calls = [Call(*call) for call in calls]
    return sum(_count(value) for call in calls for value in (*call.arguments.values(), call.cotangent))


def snippet(calls: list[Call], nodeid: str = "") -> str:
    """Python that makes ``calls`` on the student's adapters and prints each output (and, for a gradient check,
    each gradient: the differentiated arguments as leaves, the output's backward with the check's cotangent)."""
    calls = [Call(*call) for call in calls]
    count = values(calls)
    rerun = f"\n# or rerun the check itself: python -m pytest '{nodeid}' --impl path/to/your/repo" if nodeid else ""
    if count > MAX_VALUES:
        shapes = "; ".join(
            f"{call.name}(" + ", ".join(f"{key}={_shape(value)}" for key, value in call.arguments.items()) + ")"
            for call in calls
        )
        return f"{MARKER}: the inputs hold {count} values, too many to paste: {shapes}{rerun}"
    lines = [f"# {MARKER} (paste it into python, or save it as a file):", "import sys", "from math import inf, nan"]
    lines += ["", "import torch", "", 'sys.path.insert(0, ".")  # the repository root, as the course\'s tests see it']
    lines += ["from tests import adapters  # a bare adapters.py: import adapters", ""]
    for index, call in enumerate(calls):
        leaves = {key: f"{key}{index}" for key in call.wrt}
        lines += [f"{leaf} = {_literal(call.arguments[key])}.requires_grad_()" for key, leaf in leaves.items()]
        arguments = ", ".join(
            f"{key}={leaves[key] if key in leaves else _literal(value)}" for key, value in call.arguments.items()
        )
        lines += [f"out{index} = adapters.{call.name}({arguments})", f"print(out{index})"]
        if call.wrt:
            lines += [f"out{index}.backward({_literal(call.cotangent)})"]
            lines += [f'print("gradient of {key}:", {leaf}.grad)' for key, leaf in leaves.items()]
    return "\n".join(lines) + rerun + "\n# (end of the snippet)"


def _count(value: object) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, Mapping):
        return sum(_count(item) for item in value.values())
    return 0


def _shape(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"<{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}>"
    if isinstance(value, Mapping):
        return f"<{len(value)} tensors>"
    return repr(value)


def _literal(value: object) -> str:
    """An expression rebuilding ``value`` exactly: a float's repr round-trips, and every dtype's values are floats."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key!r}: {_literal(item)}" for key, item in value.items()) + "}"
    if not isinstance(value, torch.Tensor):
        return repr(value)
    tensor = value.detach().cpu()
    dtype = f"dtype=torch.{str(tensor.dtype).removeprefix('torch.')}"
    text = f"torch.tensor({tensor.tolist()!r}, {dtype})"
    if not tensor.is_contiguous():
        # The same strides: a layout bug (``.view`` on a transposed input) must show in the snippet too.
        text = f"torch.empty_strided({tuple(tensor.shape)}, {tensor.stride()}, {dtype}).copy_({text})"
    return text
