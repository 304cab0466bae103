"""Assertions that explain a broken law: what should hold, the inputs, and the worst element."""

from __future__ import annotations

import torch

# torch.testing.assert_close defaults (SPEC §5).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-7),
    torch.float32: (1.3e-6, 1e-5),
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
}


def describe(tensor: torch.Tensor) -> str:
    return f"{tuple(tensor.shape)} {str(tensor.dtype).removeprefix('torch.')} on {tensor.device}"


def assert_law(
    actual: torch.Tensor, expected: torch.Tensor, law: str, *, rtol: float | None = None, atol: float | None = None
) -> None:
    """``actual ≈ expected`` within the dtype's tolerance, else fail naming ``law`` and the worst mismatch."""
    default_rtol, default_atol = TOLERANCES[actual.dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if actual.shape != expected.shape:
        raise AssertionError(f"{law}\n  shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    excess = (a - e).abs() - (atol + rtol * e.abs())
    excess = torch.where(torch.isnan(a) != torch.isnan(e), torch.inf, excess.nan_to_num(nan=0.0))
    if bool((excess <= 0).all()):
        return
    worst = tuple(int(i) for i in torch.unravel_index(excess.argmax(), excess.shape))
    abs_err = (a - e).abs().nan_to_num(nan=torch.inf)
    rel_err = abs_err / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    raise AssertionError(
        f"law broken: {law}\n"
        f"  tensor {describe(actual)}, tolerance rtol={rtol:g} atol={atol:g}\n"
        f"  worst element {worst}: got {a[worst].item():.9g}, expected {e[worst].item():.9g}\n"
        f"  max abs error {abs_err.max().item():.3g}, max rel error {rel_err.max().item():.3g}"
    )
