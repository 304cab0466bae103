"""Name the likely bug: compare a failing adapter's output with the known bugs of the catalog.

For each adapter of a failed problem, the submission, the reference and every
catalog bug that overrides that adapter run on one fixed, seeded input. When
the submission's output matches a bug's (and the bug's differs from the
reference's), the report names that bug in the student's words, e.g.
"RoPE pairs feature k with k + d/2 instead of 2k with 2k+1".
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from reference import adapters as reference
from reference import preset

CATALOG = Path(__file__).resolve().parents[2] / "properties" / "catalog" / "bugs"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _normal(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=_generator(seed), dtype=torch.float64).mul(scale).float()


def _weight(seed: int, d_out: int, d_in: int) -> torch.Tensor:
    return _normal(seed, d_out, d_in, scale=math.sqrt(2 / (d_in + d_out)))


def _integers(seed: int, high: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=_generator(seed))


def _lm_weights(num_layers: int) -> dict[str, torch.Tensor]:
    """A small LM's state dict with every tensor random (norm gains near 1), keyed as SPEC §1."""
    config = preset("course-test").replace(vocab_size=32, d_model=16, num_layers=num_layers, d_ff=24)
    from reference import TransformerLM

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = TransformerLM(config)
    weights = {key: value.detach().clone() for key, value in model.state_dict().items()}
    for index, key in enumerate(sorted(weights)):
        if key.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
            weights[key] = 1 + _normal(100 + index, *weights[key].shape, scale=0.2)
    return weights


def _block_weights() -> dict[str, torch.Tensor]:
    return {key.removeprefix("layers.0."): v for key, v in _lm_weights(1).items() if key.startswith("layers.0.")}


def _attention_projections() -> tuple[torch.Tensor, ...]:
    return tuple(_weight(20 + i, 16, 16) for i in range(4))


Case = tuple[tuple, dict]


def _in_dtype(case: Case, dtype: torch.dtype) -> Case:
    args, kwargs = case
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args), kwargs


# Several inputs per adapter: the plain one, and ones where numerically fragile bugs show (large values, float16).
CASES: dict[str, Callable[[], list[Case]]] = {
    "run_linear": lambda: [((8, 6, _weight(1, 6, 8), _normal(2, 2, 3, 8)), {})],
    "run_embedding": lambda: [((20, 8, _normal(3, 20, 8), _integers(4, 20, 2, 5)), {})],
    "run_silu": lambda: [((_normal(5, 2, 3, 8, scale=3.0),), {})],
    "run_swiglu": lambda: [((8, 12, _weight(6, 12, 8), _weight(7, 8, 12), _weight(8, 12, 8), _normal(9, 2, 3, 8)), {})],
    "run_rmsnorm": lambda: [
        ((8, 1e-5, 1 + _normal(10, 8, scale=0.2), _normal(11, 2, 3, 8, scale=3.0)), {}),
        _in_dtype(((8, 1e-5, 1 + _normal(10, 8, scale=0.2), _normal(11, 2, 3, 8, scale=500.0)), {}), torch.float16),
    ],
    "run_rope": lambda: [((8, 10000.0, 32, _normal(12, 2, 5, 8), _integers(13, 32, 2, 5)), {})],
    "run_softmax": lambda: [
        ((_normal(14, 2, 3, 7, scale=3.0), -1), {}),
        ((_normal(14, 2, 3, 7, scale=3.0) + 1000.0, -1), {}),
        ((_normal(15, 4, 3, scale=3.0), 0), {}),
        _in_dtype(((_normal(14, 2, 3, 7, scale=3.0), -1), {}), torch.float64),
    ],
    "run_scaled_dot_product_attention": lambda: [
        (
            (_normal(15, 2, 4, 8), _normal(16, 2, 6, 8), _normal(17, 2, 6, 5)),
            {"mask": (torch.ones(4, 6, dtype=torch.bool).tril(2)).expand(2, 4, 6)},
        ),
        ((_normal(15, 2, 4, 8), _normal(16, 2, 6, 8), _normal(17, 2, 6, 5)), {}),
        _in_dtype(((_normal(15, 2, 4, 8), _normal(16, 2, 6, 8), _normal(17, 2, 6, 5)), {}), torch.float64),
    ],
    "run_multihead_self_attention": lambda: [((16, 4, *_attention_projections(), _normal(24, 2, 5, 16)), {})],
    "run_multihead_self_attention_with_rope": lambda: [
        (
            (16, 4, 16, 10000.0, *_attention_projections(), _normal(24, 2, 5, 16)),
            {"token_positions": _integers(25, 16, 2, 5)},
        )
    ],
    "run_transformer_block": lambda: [((16, 4, 24, 16, 10000.0, _block_weights(), _normal(26, 2, 5, 16)), {})],
    "run_transformer_lm": lambda: [((32, 16, 16, 2, 4, 24, 10000.0, _lm_weights(2), _integers(27, 32, 2, 5)), {})],
    "run_cross_entropy": lambda: [
        ((_normal(28, 2, 5, 11, scale=3.0), _integers(29, 11, 2, 5)), {}),
        ((_normal(28, 2, 5, 11, scale=3000.0), _integers(29, 11, 2, 5)), {}),
    ],
}


@functools.cache
def _catalog() -> tuple[tuple[str, ModuleType], ...]:
    """``(description, module)`` of every catalog bug (trusted code of this repository)."""
    bugs = []
    for path in sorted(CATALOG.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"catalog_bug_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = (module.__doc__ or path.stem).strip().splitlines()[0]
        bugs.append((description, module))
    return tuple(bugs)


def _close(a: Any, b: Any) -> bool:
    """Same shape and dtype, and values equal up to rounding noise.

    On float64 the noise allowed is small enough that float32 arithmetic counts as a difference.
    """
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (a.shape, a.dtype) == (b.shape, b.dtype)):
        return False
    rtol, atol = (1e-10, 1e-12) if a.dtype == torch.float64 else (1e-4, 1e-5)
    return bool(torch.allclose(a.double().cpu(), b.double().cpu(), rtol=rtol, atol=atol, equal_nan=True))


def _run(function: Callable[..., Any], case: Case) -> Any:
    args, kwargs = case
    try:
        with torch.no_grad():
            return function(*args, **kwargs)
    except Exception as error:  # an output that could not be computed compares as different from everything
        return error


def likely_bugs(adapters: list[str], call_submission: Callable[..., Any]) -> list[str]:
    """Descriptions of the catalog bugs whose outputs the submission reproduces on the fixed inputs.

    A bug matches when, on every case where its output differs from the
    reference's, the submission's output equals the bug's (and there is at
    least one such case), so a bug that only shows on large inputs is named
    only if the submission fails there in the same way.
    """
    found: list[str] = []
    for name in adapters:
        if name not in CASES:
            continue
        cases = CASES[name]()
        submitted = [_run(functools.partial(call_submission, name), case) for case in cases]
        expected = [_run(getattr(reference, name), case) for case in cases]
        if all(_close(s, e) for s, e in zip(submitted, expected, strict=True)):
            continue
        for description, module in _catalog():
            bug = getattr(module, name, None)
            if bug is None or bug is getattr(reference, name):
                continue
            bugged = [_run(bug, case) for case in cases]
            showing = [i for i, (b, e) in enumerate(zip(bugged, expected, strict=True)) if not _close(b, e)]
            if showing and all(_close(submitted[i], bugged[i]) for i in showing):
                found.append(f"{name}: {description}")
    return found
