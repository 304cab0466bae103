"""Prove the property suite's strength: it kills every catalogued bug and passes every correct implementation.

``python -m tools.catalog [--bugs] [--correct] [--runs 20] [--jobs 2] [--kills 3] [--only NAME ...] [--json FILE]``
(neither ``--bugs`` nor ``--correct``: both).

* Each file in ``properties/catalog/bugs/`` is the reference's adapters with
  one realistic bug. The property suite runs against it until ``--kills``
  distinct properties have killed it (``--kills 0``: to the end), and the
  table names them. A bug no property fails SURVIVES, and the command exits 1.
* Each file in ``properties/catalog/correct/`` is an independently written
  correct implementation. The suite runs ``--runs`` times against it, run
  ``i`` with Hypothesis seed ``i``; one failing test in one run fails the
  command, and the table shows which test, which seed and the message.

How it runs: ``python -m pytest properties -p tools.catalog`` subprocesses,
``--jobs`` at a time, each with a wall-clock limit (``--timeout``), each
writing JUnit XML that is parsed into one result object feeding both the rich
table and ``--json``. Loaded as a pytest plugin, this module parametrizes the
suite's ``adapters`` fixture over several implementations, so one process
tests several catalog entries (test ids get an ``impl.NAME`` part), exactly as
``--impl FILE`` would test each alone: same tests, same seed, same examples.
A process that hangs or crashes is retried split up (one entry, then one seed
per process), so the entry and seed at fault are the ones reported TIMED OUT
or ERROR.

Economy (CI runs this after the whole test suite, on two cores; a process
costs ~5 s of torch import and collection before its first test):

* Bugs share processes (up to ``BUGS_PER_PROCESS`` each) and run with the
  Hypothesis profile ``catalog``: 10 examples per test without the shrink
  phase. Shrinking finds the smallest failing example, which someone
  debugging wants and a kill count does not; generation, and so which tests
  fail, is unchanged. ``--bug-profile grading`` runs them with the grader's
  own derandomized draws instead.
* A bug file overrides some ``run_*`` adapters and takes the rest from the
  reference, so a test that never calls an overridden adapter runs the
  reference and cannot fail. Bug runs therefore deselect tests whose source
  (decorators and parameters included) names ``run_*`` adapters, none of them
  overridden; tests naming no adapter always run. ``--full`` runs every test
  against every bug instead (several times slower). Deselection can only miss
  a kill, never invent one: a wrongly deselected killer shows as SURVIVED.
* With ``--kills N`` a bug's remaining tests are skipped ("spared") once N
  properties killed it, and ``test_differential`` runs last: the named laws
  are the killers reported, and a bug killed early costs a few tests.
* Correct implementations run together, ``SEEDS_PER_PROCESS`` seeds per
  process (each Hypothesis test parametrized once per seed, ids ``seed.N``),
  with the profile ``catalog-repeat``: ``CORRECT_EXAMPLES`` examples per test
  per seed, so the default 20 seeds draw 40 examples of every test (one
  ``fast`` run: 25) in a fraction of the time of 20 full runs.
* Neither profile has an example database, so no run replays another's
  failures: every bug and every seed is judged on its own draws. Bug runs use
  a fixed seed (``--seed``), so a kill in CI is reproducible.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "properties" / "catalog"
KINDS = ("bug", "correct")
Kind = Literal["bug", "correct"]
BUG_PROFILE, CORRECT_PROFILE = "catalog", "catalog-repeat"
CORRECT_EXAMPLES = 2  # the examples per test of CORRECT_PROFILE (registered in properties/conftest.py)
BUGS_PER_PROCESS = 12
SEEDS_PER_PROCESS = 5
IMPL_PREFIX, SEED_PREFIX = "impl.", "seed."
SEEDS_ENV = "CATALOG_SEEDS"  # comma-separated: every Hypothesis test runs once per seed, ids ``seed.N``
_SEED_ARGUMENT = "catalog_hypothesis_seed"
IMPLEMENTATIONS_ENV = "CATALOG_IMPLEMENTATIONS"  # JSON for the plugin: [{"name", "path", "adapters"}]
NOTES_ENV = "CATALOG_NOTES"  # where the plugin writes {name: why it could not be loaded}
KILLS_ENV = "CATALOG_KILLS"  # after this many killing properties an implementation's other tests are spared
SPARED = "catalog: spared, already killed by"  # the skip reason of a spared test
DEFAULT_KILLS = 3
LAST_MODULES = ("test_differential",)  # run last in bug processes: it kills nearly every bug, naming no law
# Environment the suite reads that would make one machine's catalog differ from another's.
_SUITE_ENV = ("TRANSFORMER_IMPL", "REFERENCE_TEST_DTYPES", "REFERENCE_TEST_DEVICE", "HYPOTHESIS_PROFILE")
MESSAGE_LINES = 3
SHOWN_TESTS = 3
_ADAPTER_NAME = re.compile(r"\brun_[A-Za-z0-9_]+")
# The SPEC §4 adapter protocol: the only names a catalog entry can override.
ADAPTERS = (
    "run_linear",
    "run_embedding",
    "run_swiglu",
    "run_silu",
    "run_rmsnorm",
    "run_rope",
    "run_softmax",
    "run_scaled_dot_product_attention",
    "run_multihead_self_attention",
    "run_multihead_self_attention_with_rope",
    "run_transformer_block",
    "run_transformer_lm",
    "run_cross_entropy",
)


# ---------------------------------------------------------------- the result object


@dataclass(frozen=True)
class FailedTest:
    """A failed (or erroring) test: its id and the first lines of its message."""

    test: str
    message: str


@dataclass(frozen=True)
class Run:
    """One implementation's share of one pytest process.

    ``status``: ``passed`` (its tests passed or skipped), ``failed`` (some
    failed or errored), ``timeout`` (killed after the limit) or ``broken`` (no
    usable report: pytest crashed, found no tests or could not load the
    implementation; ``detail`` says why). ``seconds``: what its own tests took
    (a timed-out or broken process: its whole wall time).
    """

    seed: int | None
    status: Literal["passed", "failed", "timeout", "broken"]
    seconds: float
    tests: int = 0
    skipped: int = 0
    failures: tuple[FailedTest, ...] = ()
    errors: tuple[FailedTest, ...] = ()
    detail: str = ""
    spared: int = 0  # tests not run because the implementation was already killed (``--kills``)

    @property
    def clean(self) -> bool:
        return self.status == "passed" and not self.failures and not self.errors


@dataclass(frozen=True)
class Entry:
    """A catalog file and its runs; ``ok`` is what the catalog demands of its kind.

    ``adapters``: the ``run_*`` functions a bug file defines itself (the rest
    are the reference's); empty for a correct implementation (it defines all).
    """

    name: str
    kind: Kind
    path: str
    description: str
    adapters: tuple[str, ...] = ()
    runs: tuple[Run, ...] = ()

    @property
    def killers(self) -> tuple[str, ...]:
        """Distinct tests that failed in any run (for a bug: the properties that killed it)."""
        return tuple(dict.fromkeys(failure.test for run in self.runs for failure in run.failures))

    @property
    def ok(self) -> bool:
        if not self.runs:
            return False
        if self.kind == "bug":
            return bool(self.killers)
        return all(run.clean for run in self.runs)

    @property
    def verdict(self) -> str:
        if not self.runs:
            return "NOT RUN"
        if self.kind == "bug":
            return _bug_verdict(self)
        return _correct_verdict(self)


@dataclass(frozen=True)
class CatalogResult:
    entries: tuple[Entry, ...]
    seconds: float
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.entries) and all(entry.ok for entry in self.entries)

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    @property
    def summary(self) -> str:
        parts = []
        bugs = [entry for entry in self.entries if entry.kind == "bug"]
        if bugs:
            parts.append(f"{sum(entry.ok for entry in bugs)}/{len(bugs)} bugs killed")
        correct = [entry for entry in self.entries if entry.kind == "correct"]
        if correct:
            runs = [run for entry in correct for run in entry.runs]
            clean, passing = sum(run.clean for run in runs), sum(entry.ok for entry in correct)
            parts.append(f"{passing}/{len(correct)} correct implementations clean ({clean}/{len(runs)} runs)")
        verdict = "OK" if self.ok else "FAILED"
        return f"{verdict}: " + "; ".join(parts or ["nothing ran"]) + f" in {self.seconds:.0f} s"

    def to_json(self) -> dict[str, object]:
        """The same facts as the table, for machines: every entry with its verdict and all its runs."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "entries": [
                {**asdict(entry), "ok": entry.ok, "verdict": entry.verdict, "killed_by": list(entry.killers)}
                for entry in self.entries
            ],
        }


def _short_list(names: Sequence[str], limit: int = SHOWN_TESTS) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … (+{len(names) - limit})" if len(names) > limit else "")


def collapse_parameters(tests: Iterable[str]) -> list[str]:
    """``mod::test[float32]``, ``mod::test[float16]`` → ``mod::test[×2]``: one name per property."""
    counts: dict[str, int] = {}
    for test in tests:
        base = test.split("[", 1)[0]
        counts[base] = counts.get(base, 0) + 1
    return [f"{base}[×{count}]" if count > 1 else base for base, count in counts.items()]


def _bug_verdict(entry: Entry) -> str:
    killers = entry.killers
    if killers:
        properties = collapse_parameters(killers)
        spared = sum(run.spared for run in entry.runs)
        stopped = f", {spared} more spared" if spared else ""
        return f"killed by {len(properties)} ({len(killers)} tests{stopped}): {_short_list(properties)}"
    run = entry.runs[0]
    if run.status == "timeout":
        return f"TIMED OUT after {run.seconds:.0f} s, nothing failed before"
    if run.status == "broken" or run.errors:
        reason = run.detail or (run.errors[0].message.splitlines() or ["error"])[0]
        return f"ERROR (not a kill): {reason}"
    return f"SURVIVED ({run.tests} tests passed or skipped)"


def _correct_verdict(entry: Entry) -> str:
    clean = sum(run.clean for run in entry.runs)
    text = f"{clean}/{len(entry.runs)} runs clean"
    if clean == len(entry.runs):
        return text
    problems = []
    for run in entry.runs:
        if run.status in ("timeout", "broken"):
            problems.append(f"seed {run.seed}: {run.status.upper()} {run.detail}".rstrip())
        for failure in (*run.failures, *run.errors):
            first = failure.message.splitlines()[0] if failure.message else ""
            problems.append(f"seed {run.seed}: {failure.test}: {first}")
    return f"{text}; " + " | ".join(problems[:SHOWN_TESTS]) + (" | …" if len(problems) > SHOWN_TESTS else "")


# ---------------------------------------------------------------- finding entries


def _module(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None


def description(path: Path) -> str:
    """First line of the module docstring, read without importing (a bug file may not even import)."""
    module = _module(path)
    if module is None:
        return "(unreadable: not a Python module)"
    docstring = ast.get_docstring(module)
    return docstring.strip().splitlines()[0].strip() if docstring else "(no docstring)"


def defined_adapters(path: Path) -> tuple[str, ...]:
    """The ``run_*`` names a module defines or assigns at top level (``import *`` ones excluded)."""
    module = _module(path)
    if module is None:
        return ()
    names = []
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
    return tuple(name for name in dict.fromkeys(names) if name in ADAPTERS)


def discover(catalog: Path, kinds: Iterable[Kind], only: Sequence[str] = ()) -> list[Entry]:
    """Catalog files of the given kinds (``bugs/*.py``, ``correct/*.py``), filtered by name or glob."""
    folders = {"bug": "bugs", "correct": "correct"}
    entries = []
    for kind in kinds:
        for path in sorted((catalog / folders[kind]).glob("*.py")):
            if path.name.startswith("_"):
                continue
            if only and not any(fnmatch.fnmatch(path.stem, pattern) for pattern in only):
                continue
            adapters = defined_adapters(path) if kind == "bug" else ()
            entries.append(Entry(path.stem, kind, str(path), description(path), adapters))
    return entries


# ---------------------------------------------------------------- the pytest plugin (inside a catalog run)


def _plugin_implementations() -> list[dict[str, Any]]:
    text = os.environ.get(IMPLEMENTATIONS_ENV)
    return json.loads(text) if text else []


_loaded: dict[str, Any] = {}


def pytest_generate_tests(metafunc) -> None:
    """Parametrize ``adapters`` over the catalog entries of this process (ids ``impl.NAME``)."""
    implementations = _plugin_implementations()
    if not implementations or "adapters" not in metafunc.fixturenames:
        return
    from tools.implementation import load_adapters

    modules, ids = [], []
    for implementation in implementations:
        name = implementation["name"]
        if name not in _loaded:
            try:
                _loaded[name] = load_adapters(implementation["path"])
            except Exception as error:  # reported as the entry's ERROR, never as a kill
                _loaded[name] = None
                _write_note(name, f"{type(error).__name__}: {error}")
        if _loaded[name] is not None:
            modules.append(_loaded[name])
            ids.append(IMPL_PREFIX + name)
    # Direct parametrization overrides the root conftest's ``adapters`` fixture with each module.
    metafunc.parametrize("adapters", modules, ids=ids, scope="session")
    seeds = _plugin_seeds()
    if seeds and hasattr(metafunc.function, "hypothesis"):
        # A pseudo-argument the test never receives, as pytest-repeat adds its step number.
        metafunc.fixturenames.append(_SEED_ARGUMENT)
        metafunc.parametrize(_SEED_ARGUMENT, seeds, ids=[f"{SEED_PREFIX}{seed}" for seed in seeds])


def _plugin_seeds() -> list[int]:
    return [int(seed) for seed in os.environ.get(SEEDS_ENV, "").split(",") if seed.strip()]


def _write_note(name: str, text: str) -> None:
    path = os.environ.get(NOTES_ENV)
    if not path:
        return
    notes = json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}
    notes[name] = text
    Path(path).write_text(json.dumps(notes), encoding="utf-8")


def mentioned_adapters(test_source: str, parameters: Iterable[object] = ()) -> set[str]:
    """SPEC §4 adapter names that a piece of source or some parameter values mention."""
    text = test_source + " " + " ".join(repr(value) for value in parameters)
    return set(_ADAPTER_NAME.findall(text)) & set(ADAPTERS)


def reachable_adapters(function: Callable, depth: int = 4) -> set[str] | None:
    """Adapter names in ``function``'s source and in the suite helpers and tables it refers to, transitively.

    Follows names that resolve, in the defining module's globals, to functions of the
    same top-level package (``properties.*`` helpers such as ``attend`` or ``run_block``)
    and reads plain tables (str, list, tuple, dict, set) by their repr. ``None``: the
    function's own source could not be read, so nothing can be concluded. A helper
    without readable source (a Hypothesis ``@composite`` wrapper) is passed over.
    """
    import inspect

    root = inspect.unwrap(function)
    package = getattr(root, "__module__", "").split(".")[0]
    found: set[str] = set()
    seen: set[int] = set()
    stack = [(root, depth)]
    while stack:
        current, budget = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        try:
            source = inspect.getsource(current)
        except (OSError, TypeError):
            if current is root:
                return None
            continue
        found |= mentioned_adapters(source)
        if budget == 0:
            continue
        namespace = getattr(current, "__globals__", {})
        for name in set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", source)):
            value = namespace.get(name)
            if isinstance(value, str | list | tuple | dict | set | frozenset):
                found |= mentioned_adapters(repr(value))
            elif inspect.isfunction(value) and value.__module__.split(".")[0] == package:
                stack.append((value, budget - 1))
    return found


def can_observe(mentioned: set[str] | None, overridden: Iterable[str]) -> bool:
    """Whether a test may see an implementation that differs from the reference only in ``overridden``.

    It can unless it provably reaches adapters, none of them overridden: a test reaching no
    adapter name, or whose source could not be read, is kept.
    """
    return not mentioned or bool(mentioned & set(overridden))


def _test_adapters(item, cache: dict[object, set[str] | None]) -> set[str] | None:
    """Adapters a test item reaches: its function, its own module's fixtures and its parameters."""
    function = getattr(item, "function", None)
    if function is None:
        return None
    if function not in cache:
        inner = getattr(getattr(function, "hypothesis", None), "inner_test", function)  # @given's own function
        found = reachable_adapters(inner)
        fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        for definitions in fixtures.values():
            for definition in definitions:
                fixture = getattr(definition, "func", None)
                if found is not None and getattr(fixture, "__module__", None) == function.__module__:
                    more = reachable_adapters(fixture)
                    found = None if more is None else found | more
        cache[function] = found
    found = cache[function]
    parameters = [value for key, value in item.callspec.params.items() if key != "adapters"]
    return None if found is None else found | mentioned_adapters("", parameters)


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect (test, bug) pairs where the test reaches adapters, none of which the bug overrides;
    run the differential module last."""
    implementations = _plugin_implementations()
    if not implementations:
        return
    overridden = {
        IMPL_PREFIX + implementation["name"]: implementation["adapters"]
        for implementation in implementations
        if implementation.get("adapters")
    }
    if overridden:
        cache: dict[object, set[str] | None] = {}
        keep, drop = [], []
        for item in items:
            callspec = getattr(item, "callspec", None)
            names = [part for part in (callspec.id.split("-") if callspec else []) if part in overridden]
            if not names:
                keep.append(item)
                continue
            (keep if can_observe(_test_adapters(item, cache), overridden[names[0]]) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    # Named laws before the catch-all differential module: with --kills they are the killers listed.
    # Also with --full, where nothing is deselected (no ``adapters`` lists) but bugs are still spared.
    items.sort(key=lambda item: item.module.__name__.rpartition(".")[2] in LAST_MODULES)


_killed_by: dict[str, set[str]] = {}


def pytest_runtest_setup(item) -> None:
    """Give a repeated Hypothesis test its seed; spare an implementation already killed ``CATALOG_KILLS`` times."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _SEED_ARGUMENT in callspec.params:
        import hypothesis

        hypothesis.seed(callspec.params[_SEED_ARGUMENT])(item.obj)  # read when the test runs, as @seed's is
    limit = int(os.environ.get(KILLS_ENV) or 0)
    name = split_parameters(item.name)[1]
    if limit and name is not None and len(_killed_by.get(name, ())) >= limit:
        import pytest

        pytest.skip(f"{SPARED} {limit} properties")


def pytest_runtest_logreport(report) -> None:
    if report.when != "call" or not report.failed:
        return
    module, _, name = report.nodeid.rpartition("::")
    test, implementation, _ = split_parameters(name)
    if implementation is not None:
        _killed_by.setdefault(implementation, set()).add(f"{module}::{test.split('[', 1)[0]}")


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Case:
    """One test case of a JUnit report: the test id, and the implementation and seed it ran with."""

    test: str
    implementation: str | None
    outcome: Literal["passed", "failed", "error", "skipped", "spared"]
    message: str = ""
    seconds: float = 0.0
    seed: int | None = None


def split_parameters(name: str) -> tuple[str, str | None, int | None]:
    """``test_x[float32-impl.einsum-seed.3]`` → ``("test_x[float32]", "einsum", 3)``; absent parts → ``None``."""
    if "[" not in name or not name.endswith("]"):
        return name, None, None
    base, inside = name[:-1].split("[", 1)
    parts = inside.split("-")
    implementation = next((part for part in parts if part.startswith(IMPL_PREFIX)), None)
    seed = next((part for part in parts if re.fullmatch(re.escape(SEED_PREFIX) + r"\d+", part)), None)
    rest = [part for part in parts if part not in (implementation, seed)]
    return (
        f"{base}[{'-'.join(rest)}]" if rest else base,
        None if implementation is None else implementation.removeprefix(IMPL_PREFIX),
        None if seed is None else int(seed.removeprefix(SEED_PREFIX)),
    )


def parse_junit(xml_text: str) -> list[Case]:
    """Test cases of pytest's JUnit XML; a test id is ``module::name`` without the suite's package prefix."""
    cases = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        module = case.get("classname", "").removeprefix("properties.")
        name, implementation, seed = split_parameters(case.get("name", "?"))
        test = f"{module}::{name}" if module else name
        outcome, message = "passed", ""
        for tag, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            problem = case.find(tag)
            if problem is not None:
                outcome, message = kind, _first_lines(problem.get("message") or problem.text or "")
                if kind == "skipped" and message.startswith(SPARED):
                    outcome = "spared"
                break
        cases.append(Case(test, implementation, outcome, message, float(case.get("time") or 0.0), seed))
    return cases


def runs_from_cases(
    cases: Sequence[Case], names: Sequence[str], seeds: Sequence[int | None], notes: dict[str, str]
) -> dict[str, list[Run]]:
    """Each implementation's ``Run`` per seed, from one process's cases.

    A run holds the implementation's cases of that seed and its cases without a seed (tests
    that are not Hypothesis tests run once and count for every seed); a case of no
    implementation runs none, so its failure is an error of every run, never a kill.
    """
    shared = tuple(
        FailedTest(f"{case.test} (shared)", case.message)
        for case in cases
        if case.implementation is None and case.outcome in ("failed", "error")
    )
    runs: dict[str, list[Run]] = {}
    for name in names:
        runs[name] = []
        for seed in seeds:
            if name in notes:
                runs[name].append(Run(seed, "broken", 0.0, detail=f"could not be loaded: {notes[name]}"))
                continue
            own = [c for c in cases if c.implementation == name and (c.seed is None or c.seed == seed)]
            failures = tuple(FailedTest(c.test, c.message) for c in own if c.outcome == "failed")
            errors = tuple(FailedTest(c.test, c.message) for c in own if c.outcome == "error") + shared
            skipped = sum(c.outcome == "skipped" for c in own)
            spared = sum(c.outcome == "spared" for c in own)
            status = "failed" if failures or errors else "passed"
            seconds = sum(c.seconds for c in own)
            runs[name].append(Run(seed, status, seconds, len(own) - spared, skipped, failures, errors, spared=spared))
    return runs


def _first_lines(text: str, count: int = MESSAGE_LINES) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines()[:count])


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
    command = [sys.executable, "-m", "pytest", suite, "-p", "tools.catalog", "--device", device, "-q"]
    command += ["-p", "no:cacheprovider", f"--junitxml={junit}"]
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
            {"name": entry.name, "path": entry.path, "adapters": list(entry.adapters) if task.select else []}
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
) -> list[Task]:
    """Bugs in groups of ``BUGS_PER_PROCESS`` at ``bug_seed``; the correct implementations together,
    ``SEEDS_PER_PROCESS`` of the seeds ``0 … runs-1`` per process."""
    bugs = [entry for entry in entries if entry.kind == "bug"]
    correct = tuple(entry for entry in entries if entry.kind == "correct")
    groups = max(1, -(-len(bugs) // BUGS_PER_PROCESS))
    tasks = [
        Task(tuple(bugs[i::groups]), (bug_seed,), bug_profile, select=not full, kills=kills)
        for i in range(groups)
        if bugs[i::groups]
    ]
    if correct:
        seeds = list(range(runs))
        tasks += [
            Task(correct, tuple(seeds[i : i + SEEDS_PER_PROCESS]), CORRECT_PROFILE, select=False, repeat=True)
            for i in range(0, runs, SEEDS_PER_PROCESS)
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
    tasks = plan(entries, runs, bug_seed, full, kills, bug_profile)
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


# ---------------------------------------------------------------- presenting


def render_table(result: CatalogResult):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Property-suite catalog", expand=True)
    table.add_column("entry", no_wrap=True)
    table.add_column("kind")
    table.add_column("description", ratio=2)
    table.add_column("verdict", ratio=3)
    for entry in result.entries:
        style = "green" if entry.ok else "bold red"
        table.add_row(entry.name, entry.kind, escape(entry.description), f"[{style}]{escape(entry.verdict)}[/]")
    return table


def progress_line(entry: Entry) -> str:
    mark = "ok " if entry.ok else "BAD"
    return f"{mark} {entry.kind:<7} {entry.name}: {entry.verdict}"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.catalog",
        description="Run the property suite against every catalogued bug (each must be killed) and every correct "
        "implementation (each must pass every run). No --bugs/--correct: both.",
    )
    parser.add_argument("--bugs", action="store_true", help="run the bug catalog")
    parser.add_argument("--correct", action="store_true", help="run the correct implementations")
    parser.add_argument("--runs", type=int, default=20, help="runs (seeds 0 … runs-1) per correct implementation")
    parser.add_argument("--jobs", type=int, default=2, help="pytest processes at a time")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one pytest process may take")
    parser.add_argument("--seed", type=int, default=0, help="--hypothesis-seed of the bug runs")
    parser.add_argument("--full", action="store_true", help="bug runs: every test, also those naming other adapters")
    parser.add_argument(
        "--kills",
        type=int,
        default=DEFAULT_KILLS,
        help=f"bug runs: spare a bug's remaining tests once this many properties killed it (default {DEFAULT_KILLS}; "
        "0: run them all and list every killer)",
    )
    parser.add_argument(
        "--bug-profile",
        default=BUG_PROFILE,
        help=f"Hypothesis profile of the bug runs (default {BUG_PROFILE}; grading: the grader's own draws)",
    )
    parser.add_argument("--only", nargs="+", default=(), metavar="NAME", help="entry names or globs (file stems)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    parser.add_argument("--catalog", type=Path, default=CATALOG, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.runs < 1 or arguments.jobs < 1 or arguments.timeout <= 0 or arguments.kills < 0:
        parser.error("--runs and --jobs must be at least 1, --timeout positive and --kills not negative")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    arguments = parse_arguments(argv)
    kinds: list[Kind] = [kind for kind, wanted in (("bug", arguments.bugs), ("correct", arguments.correct)) if wanted]
    entries = discover(arguments.catalog, kinds or list(KINDS), arguments.only)
    # A CI log is no terminal: rich would wrap the table to 80 columns unless told the width.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=160 if wide else None)
    if not entries:
        console.print(f"[bold red]no catalog entries match[/] (kinds {kinds or list(KINDS)}, only {arguments.only})")
        return 2
    columns = (TextColumn("catalog processes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("processes", total=len(plan(entries, arguments.runs, arguments.seed)))

        def report(entry: Entry | None, done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)
            if entry is not None:
                progress.console.print(escape(progress_line(entry)), highlight=False)

        result = run_catalog(
            entries,
            runs=arguments.runs,
            jobs=arguments.jobs,
            timeout=arguments.timeout,
            bug_seed=arguments.seed,
            full=arguments.full,
            kills=arguments.kills,
            bug_profile=arguments.bug_profile,
            on_progress=report,
        )
    console.print(render_table(result))
    console.print(result.summary, style="bold green" if result.ok else "bold red", highlight=False)
    if arguments.json:
        arguments.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result.exit_status


if __name__ == "__main__":
    sys.exit(main())
