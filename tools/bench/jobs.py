"""Running one job in a subprocess of its own: its wall time, its peak RSS and the result line a worker prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench import ROOT

RESULT_PREFIX = "BENCH-RESULT "  # marks the worker's JSON line among whatever libraries print


@dataclass(frozen=True)
class Finished:
    """What a subprocess left behind."""

    exit_code: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


def run_job(argv: Sequence[str], cwd: Path = ROOT, env: Mapping[str, str] | None = None) -> Finished:
    """Run ``argv`` to completion and measure its wall time and peak RSS.

    The rusage that ``os.wait4`` returns for a child holds, as ``ru_maxrss``,
    the largest RSS of the child or of any descendant it waited for: the
    largest single process of the job, not the sum of processes running side by
    side (the grader's pytest child and sandbox workers). Output goes to files,
    not pipes, so a chatty child cannot block on a full pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Finished(
            exit_code=process.returncode,
            seconds=seconds,
            peak_rss_mb=usage.ru_maxrss * _MAXRSS_BYTES / 2**20,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def last_line(text: str) -> str:
    """The last non-blank line, cut to 300 characters: what a failed job's note shows."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def worker_payload(stdout: str) -> dict[str, Any]:
    """The JSON a worker printed after ``RESULT_PREFIX`` (its last such line)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    raise ValueError("the worker printed no result line")
