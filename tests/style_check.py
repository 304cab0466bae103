"""Run one adapters file of the catalog (``correct/``) over ``style_truth.cases()`` in every dtype.

``python tests/style_check.py catalog/correct/X_adapters.py`` prints, per adapter and dtype, the worst error
relative to the truth's largest magnitude (in units of that dtype's epsilon) and every contract breach
(wrong type/shape/dtype, an input modified, an error past the budget). Imported by
``tests/test_styles_are_correct.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import style_truth as truth
else:
    from tests import style_truth as truth

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
EPS32 = torch.finfo(torch.float32).eps
# Budget relative to the truth's largest magnitude, per dtype: a few roundings of the dtype (float16/bfloat16 may
# compute natively apart from the two required upcasts); float64 may be computed in float32 (SPEC §5), so its
# budget is float32's, widened where float32 rounds large inputs (see ``budget``).
BUDGET = {torch.float64: 16 * EPS32, torch.float32: 16 * EPS32, torch.float16: 4 * 2**-10, torch.bfloat16: 4 * 2**-7}
# Deep compositions (attention, block, LM) round at every stage and amplify through softmax and RMSNorm.
DEEP = {"run_multihead_self_attention", "run_multihead_self_attention_with_rope", "run_transformer_block",
        "run_transformer_lm"}  # fmt: skip


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return (value.clone(), value.dtype, value.shape, value.stride(), value.requires_grad)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def _same(before: object, value: object) -> bool:
    if isinstance(value, torch.Tensor):
        data, dtype, shape, stride, requires_grad = before
        return (
            value.dtype == dtype
            and value.shape == shape
            and value.stride() == stride
            and value.requires_grad == requires_grad
            and torch.equal(value, data)
        )
    if isinstance(value, dict):
        return before.keys() == value.keys() and all(_same(before[k], v) for k, v in value.items())
    return True


def budget(case: truth.Case, dtype: torch.dtype) -> float:
    allowed = BUDGET[dtype] * (4 if case.adapter in DEEP else 1)
    positions = case.args.get("token_positions")
    if case.adapter in ("run_rope", "run_multihead_self_attention_with_rope", "run_transformer_block"):
        # RoPE angles p·Θ^(-2k/d) may be computed in float32: absolute error up to about 4·p·ε₃₂ radians.
        top = case.args.get("max_seq_len", 32) if positions is None else int(positions.max())
        allowed += 4 * top * EPS32 * (4 if case.adapter in DEEP else 1)
    if dtype == torch.float64:
        # Computing a float64 input in float32 rounds the logits/scores themselves by |z|·ε₃₂, and a probability
        # moves by that much relatively: the budget grows with the largest logit (softmax, cross-entropy) or score.
        if case.adapter in ("run_softmax", "run_cross_entropy"):
            key = "in_features" if case.adapter == "run_softmax" else "inputs"
            allowed *= max(1.0, float(case.args[key].abs().max()))
        elif case.adapter == "run_scaled_dot_product_attention":
            q, k = case.args["Q"], case.args["K"]
            allowed *= max(1.0, float(q.abs().max() * k.abs().max()) * q.shape[-1] ** 0.5)
    return allowed


@dataclass
class Measure:
    adapter: str
    label: str
    dtype: torch.dtype
    error: float  # max |out - truth| / max |truth|
    problem: str | None


def measure(module: ModuleType, case: truth.Case, dtype: torch.dtype) -> Measure:
    arguments = case.arguments(dtype)
    before = {k: _snapshot(v) for k, v in arguments.items()}
    expected = case.expected(arguments)
    try:
        out = getattr(module, case.adapter)(**arguments)
    except Exception as error:  # a correct style must not raise on a valid call
        return Measure(case.adapter, case.label, dtype, float("inf"), f"raised {type(error).__name__}: {error}")
    problems = []
    if type(out) is not torch.Tensor:
        return Measure(case.adapter, case.label, dtype, float("inf"), f"returned {type(out)}")
    if out.dtype != dtype:
        problems.append(f"dtype {out.dtype}")
    if out.shape != expected.shape:
        return Measure(
            case.adapter, case.label, dtype, float("inf"), f"shape {tuple(out.shape)} != {tuple(expected.shape)}"
        )
    if not all(_same(before[k], v) for k, v in arguments.items()):
        problems.append("modified an input")
    got = out.detach().to(torch.float64)
    scale = float(expected.abs().max()) or 1.0
    error = float((got - expected).abs().max()) / scale if got.numel() else 0.0
    if not error <= budget(case, dtype):
        problems.append(f"error {error:.3g} > budget {budget(case, dtype):.3g}")
    return Measure(case.adapter, case.label, dtype, error, "; ".join(problems) or None)


def run(path: str) -> list[Measure]:
    torch.set_num_threads(1)
    module = load(path)
    return [measure(module, case, dtype) for case in truth.cases() for dtype in DTYPES]


def table(measures: list[Measure]) -> str:
    worst: dict[tuple[str, torch.dtype], float] = {}
    for m in measures:
        worst[m.adapter, m.dtype] = max(worst.get((m.adapter, m.dtype), 0.0), m.error)
    adapters = list(dict.fromkeys(m.adapter for m in measures))
    lines = [f"{'adapter':40s}" + "".join(f"{str(d).removeprefix('torch.'):>12s}" for d in DTYPES)]
    for adapter in adapters:
        lines.append(f"{adapter:40s}" + "".join(f"{worst[adapter, d]:12.2e}" for d in DTYPES))
    return "\n".join(lines)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        results = run(path)
        print(f"== {path}: {len(results)} calls")
        print(table(results))
        for m in results:
            if m.problem:
                print(f"  PROBLEM {m.adapter} [{m.label}] {m.dtype}: {m.problem}")
