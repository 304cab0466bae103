"""Tests of the golden machinery itself: lossless storage, damaged files, and judges that catch and explain."""

from __future__ import annotations

import pytest
import torch

from golden.inputs import activations
from golden.judges import Exact, WithinBudget, WithinTolerance
from golden.tensor_snapshot import (
    Received,
    SnapshotFormatError,
    TensorSnapshotExtension,
    deserialize_tensor,
    serialize_tensor,
)
from harness.budget import budget
from harness.inputs import on_shared_grid, uniform

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: str(dtype).removeprefix("torch."))
@pytest.mark.parametrize("shape", [(), (0, 3), (3, 5), (2, 3, 4)], ids=str)
def test_round_trip_is_bit_exact(dtype, shape):
    """deserialize(serialize(t)) has t's dtype, shape and bytes, signed zeros, infinities and NaN included."""
    tensor = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)
    if tensor.numel() >= 4:
        tensor.view(-1)[:4] = torch.tensor([-0.0, float("inf"), float("-inf"), float("nan")])
    back = deserialize_tensor(serialize_tensor(tensor))
    assert back.dtype == dtype and back.shape == tensor.shape
    assert torch.equal(back.reshape(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8))


def test_non_contiguous_input_is_stored_by_value():
    tensor = torch.arange(12.0).reshape(3, 4).T
    assert torch.equal(deserialize_tensor(serialize_tensor(tensor)), tensor)


def test_header_is_reviewable():
    """The first lines give dtype, shape, min/max/mean and the checksum; the summary depends on the bytes only."""
    text = serialize_tensor(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
    lines = text.splitlines()
    assert lines[:3] == ["dtype: float32", "shape: [2, 2]", "summary: min -2  max 3  mean 0.625"]
    assert lines[3].startswith("sha256: ") and lines[4] == "data (little-endian bytes, base64):"
    assert all(len(line) <= 76 for line in lines[5:])


def test_damaged_file_is_refused():
    text = serialize_tensor(torch.arange(8.0))
    lines = text.splitlines()
    lines[5] = ("B" if lines[5][0] != "B" else "C") + lines[5][1:]
    with pytest.raises(SnapshotFormatError, match="sha256"):
        deserialize_tensor("\n".join(lines) + "\n")
    with pytest.raises(SnapshotFormatError, match="not a tensor snapshot"):
        deserialize_tensor("dtype: float32\n")


def test_shared_grid_is_exact_in_every_dtype():
    """Golden inputs equal themselves after a round trip through float16 and bfloat16 (so float64 is their truth)."""
    x = torch.cat([uniform("meta.grid", (4096,), 3.0), activations("meta.grid.small", (4096,), rms=1e-3)])
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        assert torch.equal(x.to(dtype).double(), x)
    assert torch.equal(on_shared_grid(x), x)


def _judge(received: torch.Tensor, recorded: torch.Tensor, judge) -> str | None:
    """Run the extension as syrupy does: compare the serialized received with the recorded text."""
    extension = TensorSnapshotExtension()
    serialized = extension.serialize(Received(received, judge, "law under test"))
    if extension.matches(serialized_data=serialized, snapshot_data=serialize_tensor(recorded)):
        return None
    return "\n".join(extension.diff_lines(serialized, serialize_tensor(recorded)))


def test_exact_catches_one_ulp_and_names_the_worst_index():
    recorded = torch.linspace(-1, 1, 60, dtype=torch.float32).reshape(3, 4, 5)
    received = recorded.clone()
    received[2, 1, 3] = torch.nextafter(received[2, 1, 3], torch.tensor(2.0))
    assert _judge(recorded.clone(), recorded, Exact()) is None
    message = _judge(received, recorded, Exact())
    assert "worst element (2, 1, 3)" in message and "1 of 60 elements" in message and "max rel error" in message
    assert "ZToM" not in message and "data (little-endian" not in message  # a report, not the bytes


def test_tolerance_accepts_rounding_noise_and_rejects_a_bug():
    recorded = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    noise = recorded * (1 + 4e-7 * torch.randn(4, 8, generator=torch.Generator().manual_seed(2)))
    assert _judge(noise, recorded, WithinTolerance()) is None
    wrong = recorded.clone()
    wrong[3, 5] += 1e-3
    message = _judge(wrong, recorded, WithinTolerance())
    assert "worst element (3, 5)" in message and "max abs error 0.001" in message


def test_tolerance_requires_the_recorded_dtype_and_shape():
    recorded = torch.zeros(2, 3)
    assert "dtype float64, recorded float32" in _judge(recorded.double(), recorded, WithinTolerance())
    assert "shape (3, 2), recorded (2, 3)" in _judge(torch.zeros(3, 2), recorded, WithinTolerance())


def test_low_precision_is_judged_against_float64_truth_within_the_naive_budget():
    """A float16 output as far from the truth as the naive computation passes; one with a real error fails."""
    truth = torch.linspace(-3, 3, 101, dtype=torch.float64).exp()
    naive = truth.to(torch.float16)
    judge = WithinBudget(lambda: truth, lambda truth: budget(torch.exp, {"input": truth.log()}, torch.float16, truth))
    assert _judge(naive.clone(), naive, judge) is None
    wrong = naive.clone()
    wrong[50] *= 1.1
    message = _judge(wrong, naive, judge)
    assert "worst element (50,)" in message and "naive computation's error" in message
    missing = WithinBudget(lambda: "the float64 truth x is missing", judge.budget)
    assert "the float64 truth x is missing" in _judge(naive, naive, missing)


def test_a_problem_never_matches():
    extension = TensorSnapshotExtension()
    serialized = extension.serialize(Received(None, WithinTolerance(), "law under test", "raised RuntimeError"))
    assert not extension.matches(serialized_data=serialized, snapshot_data=serialize_tensor(torch.zeros(1)))
    assert "raised RuntimeError" in "\n".join(extension.diff_lines(serialized, serialize_tensor(torch.zeros(1))))
