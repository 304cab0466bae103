"""Run an untrusted submission's adapters in a box (``grader/box.py``) and call them from the grader.

``Sandbox`` owns one worker process (``grader/worker.py``) at a time, started
inside an operating-system box: an unprivileged uid with its own PID, network,
mount and IPC namespaces that sees only the Python installation, the staged
submission (``grader/staging.py``) read-only and a size-capped scratch area,
under CPU, memory, process and file limits (``--isolation uid`` where the OS
refuses namespaces). The worker's stdout/stderr go to a capped log. Every call
has a wall-clock limit; a worker that hangs is killed with everything in its
box, one that crashes or exits is reported with its exit status and log tail,
and the next call starts a fresh worker, so one bad problem never takes the
others down. Answers cross as ``grader.wire`` messages: plain tensors and
values only, validated and size-capped here, never unpickled.

``SandboxedAdapters`` wraps a sandbox as a module-like object whose ``run_*``
functions proxy to the worker, so the property and golden suites can test a
submission they never import.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grader import box
from grader.staging import Staged, stage
from grader.wire import WireError, read_message, write_message
from harness import backward
from harness.implementation import ImplementationError

GRADER_ROOT = Path(__file__).resolve().parents[1]
# The worker runs from a copy of these files: the box sees them, never the grader's checkout.
RUNTIME = (Path(__file__).with_name("worker.py"), Path(__file__).with_name("wire.py"), Path(backward.__file__))


@dataclass(frozen=True)
class Limits:
    call_seconds: float = 60.0
    startup_seconds: float = 120.0
    memory_bytes: int = 4 << 30
    cpu_seconds: int = 900
    file_bytes: int = 64 << 20
    open_files: int = 256
    processes: int = 256
    scratch_bytes: int = 256 << 20
    log_tail_bytes: int = 4000
    max_restarts: int = 25

    def for_box(self) -> box.Limits:
        return box.Limits(
            memory_bytes=self.memory_bytes,
            cpu_seconds=self.cpu_seconds,
            processes=self.processes,
            scratch_bytes=self.scratch_bytes,
            file_bytes=self.file_bytes,
            open_files=self.open_files,
        )


class SubmissionError(Exception):
    """The submission misbehaved during a call; the message says how, for the student's report."""


class SubmissionRaised(SubmissionError):
    """The adapter raised; ``raised`` is its exception's type name, which the diagnosis compares."""

    def __init__(self, message: str, raised: str = "") -> None:
        super().__init__(message)
        self.raised = raised


def _where(traceback_text: object, frames: int = 4) -> str:
    """The last frames of a traceback from the worker, below its own call: where in the submission it raised."""
    if not isinstance(traceback_text, str):
        return ""
    lines = traceback_text.rstrip().splitlines()[:-1]  # the last line repeats the exception
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
    own = [i for i in starts if "worker.py" in lines[i]]
    below = [i for i in starts if not own or i > own[-1]]
    # The submission's own frames, not torch's: the student's line is the one to look at.
    theirs = [i for i in below if "site-packages" not in lines[i] and "<frozen" not in lines[i]]
    if not theirs:
        return ""
    ends = {start: next((i for i in starts if i > start), len(lines)) for start in theirs[-frames:]}
    shown = [line for start, end in ends.items() for line in lines[start:end]]
    return "\n  raised at (the submission's frames, most recent call last):\n" + "\n".join(shown)


class SubmissionCrashed(SubmissionError):
    pass


class SubmissionTimeout(SubmissionError):
    pass


class SubmissionUnloadable(SubmissionError, ImplementationError):
    """Nothing can be graded: the adapters module does not import (syntax error, missing dependency, ...)."""


class IsolationUnavailable(SubmissionError, ImplementationError):
    """The box could not be set up on this machine: the grader's problem, reported, never the student's."""


ISOLATION_CHOICES = ("auto", "strongest", *(level.value for level in box.Level))


def choose_isolation(requested: str) -> box.Level:
    """The level to grade at: ``auto`` is ``namespaces`` where this OS allows them, and otherwise a refusal that
    says why in one line and names the weaker level a user may choose explicitly (never chosen silently).
    ``strongest`` is that choice made in advance, for platforms known to refuse namespaces (Gradescope's and
    other Docker containers): ``namespaces`` where allowed, else ``uid``; never ``none``. Reports name the level."""
    if requested not in ("auto", "strongest"):
        return box.Level(requested)
    probe = box.probe()
    if probe.best is box.Level.NAMESPACES or (requested == "strongest" and probe.best is box.Level.UID):
        return probe.best
    reason = probe.refused.get(box.Level.NAMESPACES, "namespaces unavailable")
    weaker = "--isolation uid (a separate unprivileged uid, no namespaces; README: what it does not stop)"
    if box.Level.UID in probe.refused:
        weaker = f"nothing weaker works either ({probe.refused[box.Level.UID]})"
    raise IsolationUnavailable(f"refusing to run untrusted code: {reason}; to grade anyway choose {weaker}")


class Sandbox:
    def __init__(
        self,
        submission: str | Path | Staged,
        device: str = "cpu",
        limits: Limits = Limits(),
        isolation: box.Level | str = box.Level.NAMESPACES,
    ) -> None:
        """``submission``: a path (staged here) or a ``Staged`` copy shared with other sandboxes of one grading."""
        self.device, self.limits, self.isolation = torch.device(device), limits, box.Level(isolation)
        self.functions: list[str] = []
        self.restarts = 0
        # An adapter that hung or killed its worker is not called again: each retry would cost
        # a full call limit or a worker restart, and its problem has failed already.
        self._given_up: dict[str, SubmissionError] = {}
        self._process: subprocess.Popen | None = None
        self._box: box.Box | None = None
        self._check: tuple[float, float] | None = None  # (deadline, budget) of the check now running
        self._scratch = Path(tempfile.mkdtemp(prefix="grade-"))
        try:
            self.staged = submission if isinstance(submission, Staged) else stage(submission, self._scratch)
            runtime = self._scratch / "runtime"
            runtime.mkdir(mode=0o755)
            for source in RUNTIME:
                shutil.copyfile(source, runtime / source.name)
                os.chmod(runtime / source.name, 0o644)
            self._box = box.Box(
                self.isolation,
                submission=self.staged.root,
                runtime=runtime,
                limits=limits.for_box(),
                device=self.device.type,
                protect=(GRADER_ROOT,),
            )
        except box.BoxError as error:
            self.close()
            raise IsolationUnavailable(str(error)) from None
        except BaseException:
            self.close()
            raise
        self._log = self._scratch / "worker.log"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        if self.restarts > self.limits.max_restarts:
            raise SubmissionCrashed(f"the submission's worker died {self.restarts} times; giving up on it")
        inside = self._box.paths
        relative = self.staged.adapters.relative_to(self.staged.root)
        command = [
            "python", "-I", "-u", str(inside.runtime / "worker.py"),
            "--adapters", str(inside.submission / relative), "--root", str(inside.submission),
            "--wire", str(inside.runtime / "wire.py"), "--backward", str(inside.runtime / "backward.py"),
            "--device", str(self.device),
        ]  # fmt: skip
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "") if self.device.type == "cuda" else "",
        }
        with open(self._log, "ab") as log:
            try:
                self._process = self._box.popen(
                    command, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
                )
            except box.BoxError as error:
                raise IsolationUnavailable(str(error)) from None
        self.restarts += 1
        kind, value = self._receive(self.limits.startup_seconds, "starting")
        if kind == "import_error":
            self._kill()
            # One environment problem, with the traceback a student needs to find the import that failed.
            raise SubmissionUnloadable(
                f"importing {relative} failed: {value['type']}: {value['message']}\n\n{value.get('traceback', '')}"
            )
        if kind != "ready" or not isinstance(value, dict) or not isinstance(value.get("functions"), list):
            self._kill()
            raise SubmissionCrashed(f"the worker answered {kind!r} instead of ready")
        self.functions = [name for name in value["functions"] if isinstance(name, str)]

    def close(self) -> None:
        self._kill()
        if self._box is not None:
            self._box.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kill(self) -> None:
        """The worker and everything it started in its box."""
        process, self._process = self._process, None
        if self._box is not None:
            self._box.kill()
        if process is None:
            return
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    # --- calls -----------------------------------------------------------------------------------

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The adapter's result; arguments it changed in place are changed here too, as a local call would."""
        answer = self._guarded(name, "call", {"name": name, "args": list(args), "kwargs": kwargs})
        if isinstance(answer, _Changed):
            _write_back(name, (args, kwargs), answer.modified)
            return answer.value
        return answer

    def vjp(
        self, name: str, arguments: dict[str, Any], wrt: list[str], cotangent: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``harness.backward.vjp`` run in the box: the output and the gradients, or ``MissingGradient``."""
        request = {"name": name, "kwargs": arguments, "wrt": list(wrt), "cotangent": cotangent}
        answer = self._guarded(name, "vjp", request)
        _write_back(name, ((), arguments), answer.modified)
        return answer.value, answer.gradients

    def _guarded(self, name: str, kind: str, request: dict) -> Any:
        earlier = self._given_up.get(name)
        if earlier is not None:
            raise type(earlier)(f"{name} is not called again after an earlier call failed: {earlier}")
        try:
            return self._call(name, kind, request)
        except (SubmissionTimeout, SubmissionCrashed) as error:
            self._given_up[name] = error
            raise

    def begin_check(self, seconds: float) -> None:
        """The calls of one check share ``seconds``: an adapter that answers each call just under the call limit
        cannot hold the run until its deadline, and so cannot leave other problems' checks unverified."""
        self._check = (time.monotonic() + seconds, seconds)

    def end_check(self) -> None:
        self._check = None

    def _call(self, name: str, kind: str, request: dict) -> Any:
        limit = self.limits.call_seconds
        if self._check is not None:
            deadline, budget = self._check
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SubmissionTimeout(f"{name}: this check's calls took more than its {budget:g} s in all")
            limit = min(limit, remaining)
        self.start()
        if name not in self.functions:
            raise NotImplementedError(f"the submission has no {name}")
        try:
            write_message(self._process.stdin, kind, request)
        except (BrokenPipeError, OSError):
            raise self._crashed(name) from None
        answer, value = self._receive(limit, name)
        if answer == "error" and isinstance(value, dict):
            if value.get("not_implemented"):
                raise NotImplementedError(f"{name} raises NotImplementedError")
            raised = str(value.get("type"))
            raise SubmissionRaised(
                f"{name} raised {raised}: {value.get('message')}{_where(value.get('traceback'))}", raised
            )
        expected = ("result", "changed") if kind == "call" else ("gradients", "missing_gradient")
        if answer not in expected:
            self._kill()
            raise SubmissionCrashed(f"{name}: the worker answered {answer!r} instead of {' or '.join(expected)}")
        try:
            return _decoded(answer, value)
        except WireError as error:
            raise SubmissionCrashed(f"{name}: the worker sent a malformed {answer!r} ({error})") from None

    def _receive(self, seconds: float, during: str) -> tuple[str, Any]:
        """The next message, or the worker killed and an error after ``seconds`` without a whole message."""
        reader = _DeadlineReader(self._process.stdout.fileno(), time.monotonic() + seconds)
        try:
            kind, value, devices = read_message(reader, self.device)
        except _Stalled:
            self._kill()
            raise SubmissionTimeout(f"{during}: no answer within {seconds:g} s; the worker was killed") from None
        except WireError as error:
            self._kill()
            raise SubmissionCrashed(f"{during}: the worker sent a malformed message ({error})") from None
        except (EOFError, OSError):
            raise self._crashed(during) from None
        wrong = [device for device in devices if torch.device(device).type != self.device.type]
        if wrong:
            raise SubmissionRaised(f"{during} returned a tensor on {wrong[0]}, expected {self.device.type}")
        return kind, value

    def _crashed(self, during: str) -> SubmissionCrashed:
        process, status = self._process, None
        if process is not None:  # its channel closed: let it finish exiting, so its own status is what we report
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = process.wait(timeout=2)
        self._kill()
        status = status if status is not None else (process.returncode if process is not None else None)
        cause = f"killed by {_signal_name(-status)}" if status and status < 0 else f"exit status {status}"
        return SubmissionCrashed(f"{during}: the worker died ({cause}); its last output:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(self._log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - self.limits.log_tail_bytes))
                return log.read().decode(errors="replace")
        except OSError:
            return ""


@dataclass(frozen=True)
class _Changed:
    """An answer that changed arguments in place: ``modified`` holds ``(path, new value)`` pairs."""

    value: Any
    modified: list[tuple[list, torch.Tensor]]
    gradients: dict[str, torch.Tensor] | None = None


def _decoded(answer: str, value: Any) -> Any:
    """A worker's answer checked for the shape the protocol gives it (the worker's messages are untrusted)."""
    if answer == "result":
        return value
    if answer == "missing_gradient":
        how = value.get("how") if isinstance(value, dict) else None
        if how not in backward.MISSING:
            raise WireError(f"unknown way for a gradient to be missing: {how!r}")
        raise backward.MissingGradient(how, str(value.get("argument", "")), str(value.get("detail", ""))[:2000])
    if not isinstance(value, dict) or not isinstance(value.get("modified"), list):
        raise WireError("no list of modified arguments")
    modified = value["modified"]
    if not all(isinstance(item, list) and len(item) == 2 and isinstance(item[0], list) for item in modified):
        raise WireError("modified arguments are not [path, value] pairs")
    gradients = value.get("gradients") if answer == "gradients" else None
    if answer == "gradients" and not (
        isinstance(gradients, dict) and all(isinstance(g, torch.Tensor) for g in gradients.values())
    ):
        raise WireError("gradients are not a mapping of tensors")
    return _Changed(value.get("value"), [(path, new) for path, new in modified], gradients)


def _write_back(name: str, arguments: tuple, modified: list[tuple[list, Any]]) -> None:
    """Copy the box's in-place changes into the caller's tensors, so checks of side effects see them."""
    for path, new in modified:
        target: Any = arguments
        try:
            for key in path:
                target = target[key]
        except (KeyError, IndexError, TypeError):
            raise SubmissionCrashed(f"{name}: the worker named an argument {path!r} that was not passed") from None
        where = ".".join(str(key) for key in path[1:])
        if not (
            isinstance(target, torch.Tensor)
            and isinstance(new, torch.Tensor)
            and (new.shape, new.dtype) == (target.shape, target.dtype)
        ):
            raise SubmissionRaised(f"{name} replaced its argument {where} in place with something else")
        try:
            with torch.no_grad():
                torch.Tensor.copy_(target, new)
        except RuntimeError:  # an expanded view cannot take the new values: say what happened instead
            raise SubmissionRaised(f"{name} modified its argument {where} in place") from None


def _signal_name(number: int) -> str:
    """``SIGKILL``; a number no ``signal.Signals`` member has (real-time signals such as 40) by its number."""
    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


class _Stalled(Exception):
    pass


class _DeadlineReader:
    """The worker's pipe read with one deadline for a whole message, so a worker that stalls mid-message is caught.

    Waiting in ``select`` here rather than in a reader thread (a thread start and two hand-offs
    per call) took a round trip from 1.7 ms to 0.5 ms on this two-core machine.
    """

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd, self.deadline = fd, deadline

    def read(self, count: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            raise _Stalled
        return os.read(self.fd, count)


class SandboxedAdapters(types.ModuleType):
    """A stand-in for the submission's adapters module; each ``run_*`` runs in the sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__("submission_adapters (sandboxed)")
        self._sandbox = sandbox
        sandbox.start()

    def close(self) -> None:
        self._sandbox.close()

    def vjp(self, name: str, arguments: dict, wrt: list[str], cotangent: torch.Tensor) -> tuple:
        if name not in self._sandbox.functions:
            raise NotImplementedError(f"the submission has no {name}")
        return self._sandbox.vjp(name, arguments, wrt, cotangent)

    def __getattr__(self, name: str):
        if not name.startswith("run_") or name not in self._sandbox.functions:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._sandbox.call(name, *args, **kwargs)

        call.__name__ = name
        return call
