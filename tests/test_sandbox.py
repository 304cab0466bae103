"""A hostile submission is contained: every misbehaviour costs it the call, never the grader.

The submissions are small adapters modules written to a temporary directory
and run through ``grader.sandbox.Sandbox`` exactly as the grader runs them.
Most cases share one module (a ``run_<case>`` each) so the suite starts few
worker processes.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import textwrap
from pathlib import Path

import pytest
import torch

from grader.sandbox import (
    GRADER_ROOT,
    Limits,
    Sandbox,
    SandboxedAdapters,
    SubmissionCrashed,
    SubmissionError,
    SubmissionRaised,
    SubmissionTimeout,
    SubmissionUnloadable,
)
from grader.wire import WireError, read_message
from harness.backward import MissingGradient

GOLDEN_FILE = next((GRADER_ROOT / "golden" / "__snapshots__").rglob("*.tensor"))
FAST = Limits(call_seconds=4.0, startup_seconds=60.0, memory_bytes=1 << 30)

HOSTILE = {
    "hangs": ("while True: pass", SubmissionTimeout, r"no answer within 4 s; the worker was killed"),
    "exits_the_process": ("os._exit(3)", SubmissionCrashed, r"worker died \(exit status 3\)"),
    "raises_system_exit": ("sys.exit(0)", SubmissionRaised, r"raised SystemExit"),
    # 16 GiB touched page by page against a 1 GiB box: the kernel kills the worker, the grader goes on.
    # At the cgroup's limit the kernel first evicts the worker's mapped torch libraries, which fault straight back:
    # on a loaded machine the OOM kill can come after the call limit. Either way the call fails and the next works;
    # tests/test_box.py proves the cap itself on a box without torch.
    "eats_memory": (
        "hog = bytearray(16 << 30)",
        SubmissionError,
        r"(MemoryError|killed by signal SIGKILL|no answer within 4 s; the worker was killed)",
    ),
    # The box holds no grader files: neither the golden snapshots nor the reference exist in there.
    "reads_the_golden_files": (f"return open({str(GOLDEN_FILE)!r}).read()", SubmissionRaised, r"FileNotFoundError"),
    "imports_the_reference": (
        "from reference.adapters import run_silu",
        SubmissionRaised,
        r"ModuleNotFoundError: No module named 'reference'",
    ),
    "writes_into_the_grader": (
        f"open({str(GRADER_ROOT / 'pwned.txt')!r}, 'w').write('x')",
        SubmissionRaised,
        r"(Read-only file system|No such file or directory).*pwned\.txt",
    ),
    # Another PID namespace: the grader's processes have no number the submission could signal.
    "kills_the_grader": (f"os.kill({os.getpid()}, signal.SIGKILL)", SubmissionRaised, r"ProcessLookupError"),
    "returns_a_non_tensor_object": ("return object()", SubmissionRaised, r"WireError: a object cannot be sent"),
    # 4 bytes on the wire that would decode into 64 MiB: refused before anything of that size is built.
    # A few bytes that would expand into 256 MiB: sent whole by the worker's encoder, refused by the reader's cap.
    "returns_an_expanded_view": (
        "return torch.zeros(()).expand(8192, 8192)",
        SubmissionCrashed,
        r"malformed message \(tensor of shape \[8192, 8192\]: more than 16777216 elements",
    ),
}

MODULE = """
import os, signal, subprocess, sys
import torch

# Monkeypatching at import time: must stay inside the worker.
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("x" * 100_000)
print("noise", file=sys.stderr)


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True


def run_softmax(in_features, dim):
    shifted = in_features - in_features.amax(dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim, keepdim=True)


def run_liar(x):
    return torch.zeros_like(x).as_subclass(Liar)


def run_not_implemented(x):
    raise NotImplementedError


def run_is_contiguous(x):
    return torch.tensor(float(x.is_contiguous()))


def run_starts_a_process(x):
    # Legitimate inside the box: subprocesses, environment variables, threads, temporary files.
    os.environ["GRADED"] = "1"
    subprocess.run(["true"], check=True)
    return x


def run_answers_slowly(x):
    import time

    time.sleep(1.5)  # under the 4 s call limit: only the check's budget for all its calls stops this
    return x


def run_writes_its_own_notes(x):
    open("notes.txt", "w").write("mine")
    return x


def run_changes_in_place(x, weights):
    x.mul_(2)
    weights["w"][0] = 7.0
    return x.sum()


def run_detached(in_features):
    return in_features.detach() * 2
"""


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    functions = "".join(f"\n\ndef run_{name}(x):\n    {body}\n" for name, (body, _, _) in HOSTILE.items())
    path = tmp_path_factory.mktemp("hostile") / "adapters.py"
    path.write_text(MODULE + functions + "\nHELPER = 1\n")
    return path


@pytest.fixture(scope="module")
def hostile(submission: Path) -> Sandbox:
    with Sandbox(submission, limits=FAST) as box:
        yield box


def _softmax_still_works(box: Sandbox) -> None:
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(box.call("run_softmax", x, -1), torch.softmax(x, -1))


@pytest.mark.parametrize(
    ("case", "error", "message"), [(k, e, m) for k, (_, e, m) in HOSTILE.items()], ids=list(HOSTILE)
)
def test_misbehaviour_fails_the_call_and_the_next_call_still_works(hostile: Sandbox, case: str, error, message) -> None:
    with pytest.raises(error, match=message):
        hostile.call(f"run_{case}", torch.ones(3))
    _softmax_still_works(hostile)
    assert not (GRADER_ROOT / "pwned.txt").exists()


@pytest.mark.parametrize("case", ["hangs", "exits_the_process"])
def test_an_adapter_that_hung_or_crashed_is_not_called_again(hostile: Sandbox, case: str) -> None:
    """A second call fails at once with the first failure's reason, instead of costing another limit or restart."""
    _, error, message = HOSTILE[case]
    with contextlib.suppress(error):
        hostile.call(f"run_{case}", torch.ones(3))
    restarts = hostile.restarts  # a retried call would restart the killed worker
    with pytest.raises(error, match=f"not called again.*{message}"):
        hostile.call(f"run_{case}", torch.ones(3))
    assert hostile.restarts == restarts
    _softmax_still_works(hostile)


def test_monkeypatching_torch_stays_in_the_worker(hostile: Sandbox) -> None:
    _softmax_still_works(hostile)
    assert not torch.allclose(torch.zeros(2), torch.ones(2))
    with pytest.raises(AssertionError):
        torch.testing.assert_close(torch.zeros(2), torch.ones(2))


def test_a_lying_tensor_subclass_arrives_as_its_plain_values(hostile: Sandbox) -> None:
    result = hostile.call("run_liar", torch.ones(3))
    assert type(result) is torch.Tensor
    assert torch.equal(result, torch.zeros(3))


def test_output_is_captured_bounded_and_off_the_channel(hostile: Sandbox) -> None:
    _softmax_still_works(hostile)
    tail = hostile.log_tail()
    assert "noise\n" in tail and len(tail) <= FAST.log_tail_bytes


def test_not_implemented_is_reported_as_such(hostile: Sandbox) -> None:
    with pytest.raises(NotImplementedError, match="run_not_implemented raises NotImplementedError"):
        hostile.call("run_not_implemented", torch.ones(3))
    with pytest.raises(NotImplementedError, match="has no run_linear"):
        hostile.call("run_linear", 1, 1, torch.ones(1, 1), torch.ones(1))


def test_non_contiguous_inputs_arrive_non_contiguous(hostile: Sandbox) -> None:
    assert hostile.call("run_is_contiguous", torch.ones(4, 6).T).item() == 0.0
    assert hostile.call("run_is_contiguous", torch.ones(4, 6)).item() == 1.0


def test_the_calls_of_one_check_share_a_budget(hostile: Sandbox) -> None:
    """Each call under the call limit, but together past the check's budget: the check fails, the run goes on."""
    hostile.begin_check(2.0)
    try:
        hostile.call("run_answers_slowly", torch.ones(1))
        with pytest.raises(SubmissionTimeout, match=r"run_answers_slowly: (no answer within|this check's calls took)"):
            hostile.call("run_answers_slowly", torch.ones(1))
    finally:
        hostile.end_check()
    _softmax_still_works(hostile)


def test_legitimate_code_may_start_processes_and_set_the_environment_in_its_box(hostile: Sandbox) -> None:
    """Inside the box these are harmless, and refusing them made honest submissions ungradable (joblib,
    torch._dynamo set environment variables at import)."""
    assert torch.equal(hostile.call("run_starts_a_process", torch.ones(2)), torch.ones(2))


def test_the_submission_works_on_a_scratch_copy(hostile: Sandbox, submission: Path) -> None:
    hostile.call("run_writes_its_own_notes", torch.ones(1))
    assert sorted(p.name for p in submission.parent.iterdir()) == ["adapters.py"]


def test_gradients_are_computed_in_the_box(hostile: Sandbox) -> None:
    """Autograd cannot cross the pipe: forward and backward run in the worker (harness/backward.py)."""
    x, g = torch.randn(3, 4), torch.randn(3, 4)
    output, gradients = hostile.vjp("run_softmax", {"in_features": x, "dim": -1}, ["in_features"], g)
    leaf = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(torch.softmax(leaf, -1), leaf, g)
    torch.testing.assert_close(output, torch.softmax(x, -1))
    torch.testing.assert_close(gradients["in_features"], expected)


def test_a_missing_gradient_crosses_as_its_kind(hostile: Sandbox) -> None:
    with pytest.raises(MissingGradient) as missing:
        hostile.vjp("run_detached", {"in_features": torch.randn(2, 3)}, ["in_features"], torch.ones(2, 3))
    assert missing.value.how == "no grad_fn" and missing.value.argument == "in_features"


def test_arguments_changed_in_the_box_are_changed_for_the_caller(hostile: Sandbox) -> None:
    """A side effect in the box is one a local call would have had: the worker sends the new values back."""
    x, weights = torch.ones(2, 3), {"w": torch.zeros(2)}
    hostile.call("run_changes_in_place", x, weights=weights)
    assert torch.equal(x, torch.full((2, 3), 2.0)) and torch.equal(weights["w"], torch.tensor([7.0, 0.0]))


def test_sandboxed_adapters_proxy_exposes_only_the_run_functions(hostile: Sandbox) -> None:
    module = SandboxedAdapters(hostile)
    assert hasattr(module, "run_softmax") and not hasattr(module, "HELPER") and not hasattr(module, "run_silu")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def run_silu(:\n", r"SyntaxError"),
        ("import not_a_real_dependency\n", r"ModuleNotFoundError: No module named 'not_a_real_dependency'"),
        ("raise SystemExit(1)\n", r"SystemExit"),
    ],
    ids=["syntax_error", "missing_dependency", "exits_at_import"],
)
def test_an_unloadable_submission_names_the_reason(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "adapters.py").write_text(source)
    with Sandbox(tmp_path / "adapters.py", limits=FAST) as box, pytest.raises(SubmissionUnloadable, match=message):
        box.start()


def test_course_repository_layout_with_an_uninstalled_versioned_package(tmp_path: Path) -> None:
    """SPEC §4: ``tests/adapters.py`` imported with the root on the path; ``__init__`` asking its own version."""
    package = tmp_path / "cs336_basics"
    package.mkdir()
    (package / "__init__.py").write_text(
        'import importlib.metadata\n__version__ = importlib.metadata.version("cs336_basics")\n'
    )
    (package / "nn.py").write_text("import torch\n\n\ndef silu(x):\n    return x * torch.sigmoid(x)\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "adapters.py").write_text(
        textwrap.dedent("""
        # The course's adapters import these from the environment, which may live inside the grader's checkout.
        import einops
        import numpy.typing as npt
        from jaxtyping import Float, Int

        from cs336_basics.nn import silu


        def run_silu(in_features):
            return silu(in_features)
        """)
    )
    with Sandbox(tmp_path, limits=FAST) as box:
        torch.testing.assert_close(box.call("run_silu", torch.ones(2)), torch.nn.functional.silu(torch.ones(2)))


MANY_VALUES = (
    b'{"kind": "result", "value": {"t": "list", "items": ['
    + b'{"t": "plain"},' * 10001
    + b'{"t": "plain"}]}, "sizes": []}'
)
# A hand-made stride-0 tensor: 4 bytes claiming to be 16 elements.
OVERLAPPING = (
    b'{"kind": "result", "value": {"t": "tensor", "dtype": "float32", "shape": [4, 4], "stride": [0, 0]}, "sizes": [4]}'
)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"x" * 8, r"header of \d+ bytes"),
        (b'{"kind": "result", "value": {"t": "plain", "v": 1}, "sizes": [268435457]}', r"payload of 268435457 bytes"),
        (MANY_VALUES, r"more than 10000 values"),
        (OVERLAPPING, r"overlaps itself"),
    ],
)
def test_the_wire_refuses_oversized_or_self_overlapping_messages_before_building_them(header, message) -> None:
    length = struct.pack(">Q", (1 << 40) if header == b"x" * 8 else len(header))
    with pytest.raises(WireError, match=message):
        read_message(io.BytesIO(length + header + (b"\0" * 4 if header is OVERLAPPING else b"")))


def test_an_error_in_the_submission_says_where_in_it_it_was_raised(tmp_path: Path) -> None:
    (tmp_path / "adapters.py").write_text(
        "import torch\n\ndef run_softmax(in_features, dim):\n    return helper(in_features)\n\n"
        "def helper(x):\n    return torch.softmax(x, dim=5)\n"
    )
    with Sandbox(tmp_path / "adapters.py", limits=FAST) as box, pytest.raises(SubmissionRaised) as raised:
        box.call("run_softmax", torch.ones(2), -1)
    message = str(raised.value)
    assert 'adapters.py", line 4, in run_softmax' in message and 'adapters.py", line 7, in helper' in message
    assert "worker.py" not in message, "the grader's own frames are not the student's business"
