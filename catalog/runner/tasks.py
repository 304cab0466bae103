"""Plan and run catalog processes (pytest with ``-p catalog.runner.plugin``), split up on hangs and crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from catalog.runner.junit import parse_junit, runs_from_cases
from catalog.runner.results import CatalogResult, Entry, Run
from catalog.runner.settings import (
    _SUITE_ENV,
    BUG_PROFILE,
    BUGS_PER_PROCESS,
    CORRECT_PROFILE,
    DEFAULT_KILLS,
    IMPLEMENTATIONS_ENV,
    KILLS_ENV,
    NOTES_ENV,
    ROOT,
    SEEDS_ENV,
    SEEDS_PER_PROCESS,
)


@dataclass(frozen=True)
class Task:
    """One pytest process: these entries, these seeds, this Hypothesis profile.

    ``repeat``: every Hypothesis test runs once per seed in the process (``seed.N`` ids); otherwise
    the one seed is ``--hypothesis-seed``. ``select``: deselect tests a bug cannot reach. ``kills``:
    spare an entry's remaining tests after this many killing properties (0: run them all).
    """

    entries: tuple[Entry, ...]
    seeds: tuple[int, ...]
    profile: str
    select: bool = True
    kills: int = 0
    repeat: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    def split(self) -> list[Task]:
        """Smaller tasks to find the entry (then the seed) at fault when this process hangs or breaks."""
        if len(self.entries) > 1:
            return [replace(self, entries=(entry,)) for entry in self.entries]
        if len(self.seeds) > 1:
            return [replace(self, seeds=(seed,)) for seed in self.seeds]
        return []


def build_command(task: Task, junit: Path, suite: str = "properties", device: str = "cpu") -> list[str]:
    command = [sys.executable, "-m", "pytest", suite, "-p", "catalog.runner.plugin", "--device", device, "-q"]
    # Findings fail (their kind is in the JUnit properties, which xunit1 writes), so the runner judges them.
    command += ["-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1", "--findings", "fail"]
    if not task.repeat and task.seeds:
        command.append(f"--hypothesis-seed={task.seeds[0]}")
    return command


def run_command(command: Sequence[str], *, timeout: float, env: dict[str, str], cwd: Path) -> tuple[int | None, str]:
    """``(exit status, output tail)``; status ``None`` when the limit hit and the process group was killed."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output[-4000:]
    return process.returncode, output[-4000:]


def task_environment(task: Task, notes: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SUITE_ENV}
    env["HYPOTHESIS_PROFILE"] = task.profile
    # ``--jobs`` processes share the cores; torch's intra-op threads on tiny tensors only add overhead (-35% CPU).
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env[NOTES_ENV] = str(notes)
    env[KILLS_ENV] = str(task.kills)
    env[SEEDS_ENV] = ",".join(str(seed) for seed in task.seeds) if task.repeat else ""
    env[IMPLEMENTATIONS_ENV] = json.dumps(
        [
            {
                "name": entry.name,
                "kind": entry.kind,
                "path": entry.path,
                "adapters": list(entry.adapters) if task.select else [],
            }
            for entry in task.entries
        ]
    )
    return env


def run_task(
    task: Task,
    *,
    timeout: float,
    cwd: Path = ROOT,
    suite: str = "properties",
    device: str = "cpu",
    command_for: Callable[[Task, Path], list[str]] | None = None,
) -> dict[str, list[Run]]:
    """Run one pytest process for ``task``: each entry gets a ``Run`` per seed, read from the JUnit report."""
    with tempfile.TemporaryDirectory(prefix="catalog-") as folder:
        junit, notes = Path(folder) / "report.xml", Path(folder) / "notes.json"
        command = command_for(task, junit) if command_for else build_command(task, junit, suite, device)
        start = time.monotonic()
        try:
            status, output = run_command(command, timeout=timeout, env=task_environment(task, notes), cwd=cwd)
        except OSError as error:
            return _all(task, "broken", 0.0, f"could not start: {error}")
        seconds = time.monotonic() - start
        if status is None:
            return _all(task, "timeout", seconds, f"no result within {timeout:g} s")
        loaded = json.loads(notes.read_text(encoding="utf-8")) if notes.exists() else {}
        try:
            cases = parse_junit(junit.read_text(encoding="utf-8"))
        except (OSError, ET.ParseError):
            return _all(task, "broken", seconds, f"pytest exit {status}, no JUnit report: {_tail(output)}")
    if status not in (0, 1):  # 2 interrupted, 3 internal error, 4 usage error, 5 no tests collected
        return _all(task, "broken", seconds, f"pytest exit {status}: {_tail(output)}")
    return runs_from_cases(cases, task.names, task.seeds or (None,), loaded)


def _all(task: Task, status: Literal["timeout", "broken"], seconds: float, detail: str) -> dict[str, list[Run]]:
    return {name: [Run(seed, status, seconds, detail=detail) for seed in task.seeds or (None,)] for name in task.names}


def _tail(output: str) -> str:
    """The line that best says why a run broke: the last one mentioning an error, else the last one."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no output)"])[-1]


def plan(
    entries: Sequence[Entry],
    runs: int,
    bug_seed: int,
    full: bool = False,
    kills: int = DEFAULT_KILLS,
    bug_profile: str = BUG_PROFILE,
    jobs: int = 1,
) -> list[Task]:
    """Bugs in groups of ``BUGS_PER_PROCESS`` at ``bug_seed``; the correct implementations together,
    at most ``SEEDS_PER_PROCESS`` of the seeds ``0 … runs-1`` per process, spread so that ``jobs`` workers share them
    evenly; with fewer seeds than workers the implementations are shared out too."""
    bugs = [entry for entry in entries if entry.kind != "correct"]
    correct = tuple(entry for entry in entries if entry.kind == "correct")
    groups = max(1, -(-len(bugs) // BUGS_PER_PROCESS))
    tasks = [
        Task(tuple(bugs[i::groups]), (bug_seed,), bug_profile, select=not full, kills=kills)
        for i in range(groups)
        if bugs[i::groups]
    ]
    if correct:
        seeds = list(range(runs))
        size = max(1, min(SEEDS_PER_PROCESS, -(-runs // jobs)))
        chunks = [tuple(seeds[i : i + size]) for i in range(0, runs, size)]
        shares = min(len(correct), max(1, -(-jobs // len(chunks))))
        tasks += [
            Task(correct[i::shares], chunk, CORRECT_PROFILE, select=False, repeat=True)
            for chunk in chunks
            for i in range(shares)
        ]
    return tasks


def run_catalog(
    entries: Sequence[Entry],
    *,
    runs: int = 20,
    jobs: int = 2,
    timeout: float = 600.0,
    bug_seed: int = 0,
    full: bool = False,
    kills: int = DEFAULT_KILLS,
    bug_profile: str = BUG_PROFILE,
    run: Callable[[Task], dict[str, list[Run]]] | None = None,
    on_progress: Callable[[Entry | None, int, int], None] | None = None,
) -> CatalogResult:
    """Every entry's runs on ``jobs`` workers; ``on_progress(finished_entry_or_None, done, total)`` per process.

    A process that times out or breaks is retried split up (``Task.split``), so the entry and seed
    at fault are the ones reported.
    """
    run = run or (lambda task: run_task(task, timeout=timeout))
    start = time.monotonic()
    tasks = plan(entries, runs, bug_seed, full, kills, bug_profile, jobs)
    expected = {entry.name: 0 for entry in entries}
    for task in tasks:
        for name in task.names:
            expected[name] += len(task.seeds)
    finished: dict[str, list[Run]] = {entry.name: [] for entry in entries}
    by_name = {entry.name: entry for entry in entries}
    done, total = 0, len(tasks)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pending: dict[Future, Task] = {pool.submit(run, task): task for task in tasks}
        while pending:
            completed, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in completed:
                task = pending.pop(future)
                try:
                    results = future.result()
                except Exception as error:  # a bug in the runner itself: report it against the entries, keep going
                    results = _all(task, "broken", 0.0, f"runner error: {type(error).__name__}: {error}")
                done += 1
                broken = any(r.status in ("timeout", "broken") for runs_ in results.values() for r in runs_)
                if broken and task.split():
                    for part in task.split():
                        pending[pool.submit(run, part)] = part
                        total += 1
                    continue
                for name in task.names:
                    finished[name] += results[name]
                    if on_progress and len(finished[name]) == expected[name]:
                        on_progress(_with_runs(by_name[name], finished[name]), done, total)
                if on_progress:
                    on_progress(None, done, total)
    results = tuple(_with_runs(entry, finished[entry.name]) for entry in entries)
    settings = {"runs": runs, "jobs": jobs, "timeout_s": timeout, "bug_seed": bug_seed, "full": full, "kills": kills}
    settings |= {"bug_profile": bug_profile, "correct_profile": CORRECT_PROFILE, "processes": total}
    return CatalogResult(results, time.monotonic() - start, settings)


def _with_runs(entry: Entry, runs: list[Run]) -> Entry:
    ordered = tuple(sorted(runs, key=lambda run: -1 if run.seed is None else run.seed))
    return Entry(entry.name, entry.kind, entry.path, entry.description, entry.adapters, ordered)
