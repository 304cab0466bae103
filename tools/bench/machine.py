"""The machine a run measured on: what decides whether two runs' timings can be compared."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.bench import ROOT
from tools.bench.jobs import last_line, run_job, worker_payload


def probe_torch(threads: int | None) -> dict[str, Any]:
    """Torch's side of the machine description, from a child (this process stays free of torch)."""
    argv = [sys.executable, "-m", "tools.bench", "--_probe"]
    if threads:
        argv += ["--threads", str(threads)]
    finished = run_job(argv)
    if finished.exit_code != 0:
        raise RuntimeError(f"probing torch failed: {last_line(finished.stderr)}")
    return worker_payload(finished.stdout)


def describe_machine(torch_info: Mapping[str, Any]) -> dict[str, Any]:
    """Hardware, software, commit, date and load; ``torch_info`` is what ``probe_torch`` returned."""
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch_info.get("torch"),
        "torch_threads": torch_info.get("threads"),
        "cuda_device": torch_info.get("cuda_device"),
        "transformers": _version("transformers"),
        "git_commit": _git("rev-parse", "HEAD"),
        # Uncommitted changes mean the commit alone does not say what was measured.
        "git_dirty": bool(_git("status", "--porcelain")),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # The machine may be shared: the load at the start says how noisy the numbers are likely to be.
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()
