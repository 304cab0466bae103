"""Run the property and golden suites against a sandboxed submission in a pytest child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.grader.record_plugin import PREFIX
from tools.grader.rubric import Rubric
from tools.implementation import ENV_VAR as IMPLEMENTATION_ENV

GRADER_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CheckOutcome:
    nodeid: str
    outcome: str  # passed | failed | skipped
    message: str
    seconds: float


@dataclass(frozen=True)
class SuiteRun:
    outcomes: tuple[CheckOutcome, ...]
    exit_code: int
    seconds: float
    output_tail: str
    timed_out: bool


def run_suites(
    submission: Path,
    rubric: Rubric,
    device: str,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    processes: int = 1,
) -> SuiteRun:
    """The suites of ``rubric`` against ``submission`` (sandboxed), with a wall-clock limit for the whole run.

    ``processes`` > 1 spreads the checks over that many pytest-xdist workers, each with its own
    sandboxed worker; the outcome does not depend on it (derandomized draws, pinned per test).
    """
    # The submission's path goes by environment, never on the command line: pytest imports the
    # conftest.py of every path argument (and of its test*/ folders) before it knows which options
    # take values, which would run the student's conftest here, outside the sandbox.
    command = [
        sys.executable, "-m", "pytest", *rubric.suites, "--confcutdir", str(GRADER_ROOT),
        "--sandbox", "--device", device,
        "--dtypes", ",".join(rubric.dtypes), "--hypothesis-profile", rubric.hypothesis_profile,
        "--sandbox-call-seconds", str(rubric.call_seconds),
        "-p", "tools.grader.record_plugin", "-p", "no:cacheprovider", "-q", "--no-header",
    ]  # fmt: skip
    if processes > 1:
        command += ["-n", str(processes)]
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    environment[IMPLEMENTATION_ENV] = str(submission.resolve())
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=GRADER_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    outcomes: list[CheckOutcome] = []
    tail: list[str] = []
    total, timed_out = 0, False
    assert process.stdout is not None
    for line in process.stdout:
        if time.monotonic() - started > rubric.suite_seconds:
            process.kill()
            timed_out = True
            break
        start = line.find(PREFIX)  # pytest's progress dots may precede it on the same line
        if start < 0:
            tail = [*tail[-40:], line]
            continue
        record = json.loads(line[start + len(PREFIX) :])
        if record["event"] == "collected":
            total = record["count"]
        else:
            outcomes.append(CheckOutcome(record["nodeid"], record["outcome"], record["message"], record["seconds"]))
        on_progress(len(outcomes), total)
    process.wait()
    return SuiteRun(tuple(outcomes), process.returncode, time.monotonic() - started, "".join(tail), timed_out)
