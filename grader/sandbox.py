"""Run an untrusted submission's adapters in a contained child process and call them from the grader.

``Sandbox`` owns one worker process (``grader/worker.py``) at a time:
started in its own session and process group, under resource limits
(address space, CPU seconds, file size, open files), in a scratch copy of the
submission as working directory, with stdout/stderr going to a capped log.
Every call has a wall-clock limit; a worker that hangs is killed with its
whole process group, one that crashes or exits is reported with its exit
status and log tail, and the next call starts a fresh worker, so one bad
problem never takes the others down. Answers cross as ``grader.wire``
messages: plain tensors and values only, validated here, never unpickled.

``SandboxedAdapters`` wraps a sandbox as a module-like object whose ``run_*``
functions proxy to the worker, so the property and golden suites can test a
submission they never import.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grader.wire import WireError, read_message, write_message
from harness.implementation import ImplementationError, locate_adapters

GRADER_ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("worker.py")
WIRE = Path(__file__).with_name("wire.py")
COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".venv", "*.pt", "*.pth", "*.safetensors", "*.bin")


@dataclass(frozen=True)
class Limits:
    call_seconds: float = 60.0
    startup_seconds: float = 120.0
    memory_bytes: int = 4 << 30
    cpu_seconds: int = 900
    file_bytes: int = 64 << 20
    open_files: int = 256
    log_tail_bytes: int = 4000
    max_restarts: int = 25


class SubmissionError(Exception):
    """The submission misbehaved during a call; the message says how, for the student's report."""


class SubmissionRaised(SubmissionError):
    pass


class SubmissionCrashed(SubmissionError):
    pass


class SubmissionTimeout(SubmissionError):
    pass


class SubmissionUnloadable(SubmissionError, ImplementationError):
    """Nothing can be graded: the adapters module does not import (syntax error, missing dependency, ...)."""


class Sandbox:
    def __init__(self, submission: str | Path, device: str = "cpu", limits: Limits = Limits()) -> None:
        self.adapters, self.root = locate_adapters(submission)
        self.device, self.limits = torch.device(device), limits
        self.functions: list[str] = []
        self.restarts = 0
        # An adapter that hung or killed its worker is not called again: each retry would cost
        # a full call limit or a worker restart, and its problem has failed already.
        self._given_up: dict[str, SubmissionError] = {}
        self._process: subprocess.Popen | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="grade-"))
        self._copy = self._scratch / "submission"
        if self.adapters.parent == self.root:  # a lone adapters file: its folder may be anything, e.g. /tmp
            self._copy.mkdir()
            shutil.copy2(self.adapters, self._copy / self.adapters.name)
        else:
            shutil.copytree(self.root, self._copy, ignore=COPY_IGNORE, symlinks=True)
        self._log = self._scratch / "worker.log"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        if self.restarts > self.limits.max_restarts:
            raise SubmissionCrashed(f"the submission's worker died {self.restarts} times; giving up on it")
        work = self._scratch / "work"
        work.mkdir(exist_ok=True)
        relative = self.adapters.relative_to(self.root)
        log = open(self._log, "ab")  # noqa: SIM115 (handed to the child, closed below)
        command = [
            sys.executable, "-I", "-u", str(WORKER),
            "--adapters", str(self._copy / relative), "--root", str(self._copy), "--scratch", str(self._scratch),
            "--grader-root", str(GRADER_ROOT), "--wire", str(WIRE), "--device", str(self.device),
        ]  # fmt: skip
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "TMPDIR": str(work),
            "PYTHONDONTWRITEBYTECODE": "1",
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        }
        if self.device.type != "cuda":
            environment["CUDA_VISIBLE_DEVICES"] = ""
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=work,
            env=environment,
            start_new_session=True,
            preexec_fn=self._apply_limits,
        )
        log.close()
        self.restarts += 1
        kind, value = self._receive(self.limits.startup_seconds, "starting")
        if kind == "import_error":
            self._kill()
            raise SubmissionUnloadable(f"importing {relative} failed: {value['type']}: {value['message']}")
        if kind != "ready" or not isinstance(value, dict) or not isinstance(value.get("functions"), list):
            self._kill()
            raise SubmissionCrashed(f"the worker answered {kind!r} instead of ready")
        self.functions = [name for name in value["functions"] if isinstance(name, str)]

    def _apply_limits(self) -> None:
        """In the child, before exec: caps that hold whatever the submission does."""
        limits = [
            (resource.RLIMIT_CPU, self.limits.cpu_seconds),
            (resource.RLIMIT_FSIZE, self.limits.file_bytes),
            (resource.RLIMIT_NOFILE, self.limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ]
        if self.device.type != "cuda":  # CUDA reserves far more address space than it uses
            limits.append((resource.RLIMIT_AS, self.limits.memory_bytes))
        for which, value in limits:
            resource.setrlimit(which, (value, value))

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    # --- calls -----------------------------------------------------------------------------------

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        earlier = self._given_up.get(name)
        if earlier is not None:
            raise type(earlier)(f"{name} is not called again after an earlier call failed: {earlier}")
        try:
            return self._call(name, args, kwargs)
        except (SubmissionTimeout, SubmissionCrashed) as error:
            self._given_up[name] = error
            raise

    def _call(self, name: str, args: tuple, kwargs: dict) -> Any:
        self.start()
        if name not in self.functions:
            raise NotImplementedError(f"the submission has no {name}")
        try:
            write_message(self._process.stdin, "call", {"name": name, "args": list(args), "kwargs": kwargs})
        except (BrokenPipeError, OSError):
            raise self._crashed(name) from None
        kind, value = self._receive(self.limits.call_seconds, name)
        if kind == "error" and isinstance(value, dict):
            if value.get("not_implemented"):
                raise NotImplementedError(f"{name} raises NotImplementedError")
            raise SubmissionRaised(f"{name} raised {value.get('type')}: {value.get('message')}")
        if kind != "result":
            self._kill()
            raise SubmissionCrashed(f"{name}: the worker answered {kind!r} instead of a result")
        return value

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
        process = self._process
        self._kill()
        status = process.returncode if process is not None else None
        cause = f"killed by signal {signal.Signals(-status).name}" if status and status < 0 else f"exit status {status}"
        return SubmissionCrashed(f"{during}: the worker died ({cause}); its last output:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(self._log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - self.limits.log_tail_bytes))
                return log.read().decode(errors="replace")
        except OSError:
            return ""


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

    def __getattr__(self, name: str):
        if not name.startswith("run_") or name not in self._sandbox.functions:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._sandbox.call(name, *args, **kwargs)

        call.__name__ = name
        return call
