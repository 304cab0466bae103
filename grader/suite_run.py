"""Run the property and golden suites against a sandboxed submission in a pytest child process.

Verdicts come only from the record pipe (``grader/pytest_plugin.py``), a
channel the sandboxed worker never holds. A watchdog, not the arrival of
output, enforces ``suite_seconds``. Records are validated here: a malformed
one is a reported problem of the run, never a crash of the grader.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.box import Level
from grader.pytest_plugin import ISOLATION_ENV, RECORD_FD, STAGED_ROOT_ENV
from grader.rubric import Rubric
from grader.staging import Staged
from harness.implementation import ENV_VAR as IMPLEMENTATION_ENV
from harness.protocol import ASPECTS, SCORED, VALUES

GRADER_ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("passed", "failed", "skipped")
MAX_RECORD_BYTES = 1 << 20  # a record holds one test's message, cut at a few kB by the plugin
TAIL_LINES = 40


@dataclass(frozen=True)
class CheckOutcome:
    nodeid: str
    outcome: str  # passed | failed | skipped
    message: str
    seconds: float
    problem: str | None = None  # the problem of the adapter under test (harness/protocol.py)
    kind: str = SCORED  # "scored", or the kind of finding the check is (SPEC §5: its dtype)
    values: int | None = None  # how many tensor values the failing example's calls took (None: not known)
    aspect: str = VALUES  # what it verifies: values, gradients or side-effects (harness/protocol.py ASPECTS)


@dataclass(frozen=True)
class SuiteRun:
    outcomes: tuple[CheckOutcome, ...]
    collected: tuple[str, ...]  # every check the run owed a verdict
    exit_code: int | None
    seconds: float
    output_tail: str
    timed_out: bool
    bad_records: int = 0


def parse_record(line: bytes) -> dict | CheckOutcome | None:
    """A record line: the collected ids (a dict), one outcome, or ``None`` where it breaks the format."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("event") == "collected":
        ids = record.get("nodeids")
        return {"nodeids": ids} if isinstance(ids, list) and all(isinstance(i, str) for i in ids) else None
    fields = (record.get("nodeid"), record.get("outcome"), record.get("message"), record.get("seconds"))
    problem, kind, values = record.get("problem"), record.get("check", SCORED), record.get("values")
    aspect = record.get("aspect", VALUES)
    if (
        record.get("event") != "test"
        or not isinstance(fields[0], str)
        or fields[1] not in OUTCOMES
        or not isinstance(fields[2], str)
        or not isinstance(fields[3], int | float)
        or not (problem is None or isinstance(problem, str))
        or not isinstance(kind, str)
        or not (values is None or (isinstance(values, int) and not isinstance(values, bool)))
        or aspect not in ASPECTS
    ):
        return None
    return CheckOutcome(fields[0], fields[1], fields[2], float(fields[3]), problem, kind, values, aspect)


def run_suites(
    staged: Staged,
    rubric: Rubric,
    device: str,
    isolation: Level,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    processes: int = 1,
    on_partial: Callable[[SuiteRun], None] | None = None,
) -> SuiteRun:
    """The suites of ``rubric`` against the ``staged`` submission in ``isolation`` boxes, with a wall-clock limit.

    ``processes`` > 1 spreads the checks over that many pytest-xdist workers, each with its own
    sandboxed worker; the outcome does not depend on it (derandomized draws, pinned per test).
    ``on_partial`` sees the run so far each time a test module has reported every check it owes, so that a
    platform's results can show what is verified before the run ends (a timeout then loses only the rest).
    """
    # The submission's path goes by environment, never on the command line: pytest imports the
    # conftest.py of every path argument (and of its test*/ folders) before it knows which options
    # take values, which would run the student's conftest here, outside the sandbox.
    command = [
        sys.executable, "-m", "pytest", *rubric.suites, "--confcutdir", str(GRADER_ROOT), "--device", device,
        "--dtypes", ",".join(rubric.dtypes), "--hypothesis-profile", rubric.hypothesis_profile,
        "--sandbox-call-seconds", str(rubric.call_seconds), "--sandbox-check-seconds", str(rubric.check_seconds),
        "--findings", "fail",
        "-p", "grader.pytest_plugin", "-p", "no:cacheprovider", "-q", "--no-header",
    ]  # fmt: skip
    if processes > 1:
        # Whole files per worker: a problem's checks stay together, and an adapter that stalls every call
        # holds up only the worker running its files, not the checks of other problems.
        command += ["-n", str(processes), "--dist", "loadfile"]
    read_end, write_end = os.pipe()
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    environment |= {
        RECORD_FD: str(write_end),
        IMPLEMENTATION_ENV: str(staged.adapters),
        STAGED_ROOT_ENV: str(staged.root),
        ISOLATION_ENV: isolation.value,
    }
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=GRADER_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        pass_fds=(write_end,),
        start_new_session=True,  # the whole child tree is killed at the deadline
    )
    os.close(write_end)
    outcomes: list[CheckOutcome] = []
    collected: list[str] = []
    owing: dict[str, set[str]] = {}  # by test module, the collected checks that have not reported yet
    tail: list[bytes] = []
    bad_records, timed_out = 0, False
    pending = {process.stdout.fileno(): b"", read_end: b""}
    selector = selectors.DefaultSelector()
    for descriptor in pending:
        selector.register(descriptor, selectors.EVENT_READ)
    deadline = started + rubric.suite_seconds
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(timeout=min(remaining, 1.0)):
            chunk = os.read(key.fd, 1 << 16)
            if not chunk:
                selector.unregister(key.fd)
                del pending[key.fd]
                continue
            *lines, pending[key.fd] = (pending[key.fd] + chunk).split(b"\n")
            if key.fd != read_end:
                tail = [*tail, *lines][-TAIL_LINES:]
                continue
            if len(pending[key.fd]) > MAX_RECORD_BYTES:
                pending[key.fd], bad_records = b"", bad_records + 1
            for line in lines:
                record = parse_record(line)
                if isinstance(record, CheckOutcome):
                    outcomes.append(record)
                    owed = owing.get(_module(record.nodeid))
                    if owed is not None:
                        owed.discard(record.nodeid)
                        if not owed and on_partial is not None:
                            on_partial(
                                SuiteRun(tuple(outcomes), tuple(collected), None, time.monotonic() - started, "", False)
                            )
                elif isinstance(record, dict):
                    collected = record["nodeids"]
                    owing = {}
                    for nodeid in collected:
                        owing.setdefault(_module(nodeid), set()).add(nodeid)
                else:
                    bad_records += 1
                on_progress(len(outcomes), len(collected))
    if timed_out:
        _kill_group(process)
    exit_code = process.wait()
    selector.close()
    os.close(read_end)
    process.stdout.close()
    output = b"\n".join(tail).decode(errors="replace")
    return SuiteRun(
        tuple(outcomes), tuple(collected), exit_code, time.monotonic() - started, output, timed_out, bad_records
    )


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
