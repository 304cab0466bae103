"""Loading state dicts with errors that name the offending key."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import torch
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


class StateDictError(KeyError):
    """A state dict does not fit a module: missing, unexpected or mis-shaped keys."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def load_weights(module: M, weights: Mapping[str, Tensor]) -> M:
    """Copy ``weights`` into ``module``, casting to its dtype and device; every key must match exactly.

    Tied parameters appear under each of their names in ``module.state_dict()``
    and may be given under any one of them or all (equal values required).
    """
    if not isinstance(weights, Mapping):
        raise TypeError(f"load_weights: weights must be a mapping of key to tensor, got {type(weights).__name__}")
    expected = module.state_dict()
    aliases = _tied_aliases(module)
    problems: list[str] = []
    for key in sorted(expected.keys() - weights.keys()):
        if not any(alias in weights for alias in aliases.get(key, ())):
            problems.append(f"missing key {key!r} (expected shape {tuple(expected[key].shape)})")
    for key in sorted(weights.keys() - expected.keys()):
        problems.append(f"unexpected key {key!r}{_closest_hint(key, expected.keys())}")
    for key in sorted(weights.keys() & expected.keys()):
        value = weights[key]
        if not isinstance(value, Tensor):
            problems.append(f"key {key!r} holds a {type(value).__name__}, not a tensor")
        elif value.shape != expected[key].shape:
            problems.append(f"key {key!r} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    if not problems:
        for key, names in aliases.items():
            for alias in names:
                if (
                    key < alias
                    and key in weights
                    and alias in weights
                    and not torch.equal(weights[key], weights[alias])
                ):
                    problems.append(f"keys {key!r} and {alias!r} name one tied parameter but hold different values")
    if problems:
        raise StateDictError(f"state dict does not fit {type(module).__name__}: " + "; ".join(problems))
    complete = dict(weights)
    for key, names in aliases.items():
        if key not in complete:
            complete[key] = next(complete[alias] for alias in names if alias in weights)
    with torch.no_grad():
        module.load_state_dict(complete, strict=True)
    return module


def from_weights(
    module_type: Callable[..., M],
    config: object,
    weights: Mapping[str, Tensor],
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> M:
    """``module_type(config)`` built on ``device`` in ``dtype`` and holding ``weights``: a module as a function."""
    return load_weights(module_type(config, device=device, dtype=dtype), weights)


def _tied_aliases(module: nn.Module) -> dict[str, tuple[str, ...]]:
    """For each parameter name, the other names under which the same tensor is registered."""
    names_by_id: dict[int, list[str]] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        names_by_id.setdefault(id(parameter), []).append(name)
    return {
        name: tuple(other for other in names if other != name)
        for names in names_by_id.values()
        if len(names) > 1
        for name in names
    }


def _closest_hint(key: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
