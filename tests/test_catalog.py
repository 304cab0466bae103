"""Unit tests of the catalog runner (``catalog/runner/``): JUnit parsing, per-seed runs, verdicts, exit status,
discovery, deselection, planning, retries, timeouts, seeds and kills inside a process, the CLI.

No test here runs the property suite: the runner is exercised on tiny fake
suites (a conftest and a few test modules in a temporary folder, no torch) or
replaced by a function returning canned runs.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from catalog.runner import tasks as runner_tasks
from catalog.runner.cli import main, parse_arguments
from catalog.runner.discovery import defined_adapters, description, discover
from catalog.runner.flatten import flatten
from catalog.runner.junit import Case, parse_junit, runs_from_cases, split_parameters
from catalog.runner.plugin import can_observe
from catalog.runner.results import CatalogResult, Entry, FailedTest, Run, collapse_parameters
from catalog.runner.settings import (
    BUG_PROFILE,
    CATALOG,
    CORRECT_EXAMPLES,
    CORRECT_PROFILE,
    DEFAULT_KILLS,
    KILLS_ENV,
    SEEDS_ENV,
    SPARED,
)
from catalog.runner.table import render_table
from catalog.runner.tasks import Task, _all, build_command, plan, run_catalog, run_task, task_environment
from harness.assertions import Tolerance, assert_law
from harness.protocol import ADAPTERS

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" tests="6">
  <testcase classname="properties.test_rope" name="test_norm[float32-impl.einsum]" time="0.1"/>
  <testcase classname="properties.test_rope" name="test_shift[impl.rope_bug-float32]" time="0.2">
    <failure message="AssertionError: law broken: rope keeps norms&#10;  inputs: x (2, 4)&#10;  third&#10;  fourth">
      traceback text</failure>
  </testcase>
  <testcase classname="properties.test_rope.TestPairs" name="test_pairs[impl.rope_bug]" time="0.1">
    <failure>plain text only</failure>
  </testcase>
  <testcase classname="properties.test_softmax" name="test_sum[-1000.0-impl.einsum]" time="0.0">
    <skipped type="pytest.skip" message="not implemented">skip</skipped>
  </testcase>
  <testcase classname="properties.test_softmax" name="test_fixture[impl.einsum]" time="0.0">
    <error message="failed on setup with ImportError">E   ImportError</error>
  </testcase>
  <testcase classname="properties.test_strategies" name="test_shapes" time="0.0"/>
  <testcase classname="properties.test_differential" name="test_matches[impl.rope_bug]" time="0.0">
    <skipped type="pytest.skip" message="{spared} 3 properties">plugin.py:1: {spared} 3 properties</skipped>
  </testcase>
</testsuite></testsuites>
""".replace("{spared}", SPARED)

# A report of a repeated (correct) process: Hypothesis tests once per seed, the others once.
JUNIT_SEEDS = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" failures="1" tests="6">
  <testcase classname="properties.test_rope" name="test_norm[impl.einsum-seed.0]" time="0.5"/>
  <testcase classname="properties.test_rope" name="test_norm[impl.einsum-seed.1]" time="0.5">
    <failure message="AssertionError: law broken at seed 1">traceback</failure>
  </testcase>
  <testcase classname="properties.test_rope" name="test_fixed[float32-impl.einsum]" time="0.25"/>
  <testcase classname="properties.test_rope" name="test_norm[impl.other-seed.0]" time="0.5"/>
  <testcase classname="properties.test_rope" name="test_norm[impl.other-seed.1]" time="0.5"/>
  <testcase classname="properties.test_rope" name="test_fixed[float32-impl.other]" time="0.25"/>
</testsuite></testsuites>
"""


def _run(status="failed", failures=(), errors=(), seed=0, **kwargs) -> Run:
    return Run(seed, status, 1.0, tests=5, failures=tuple(failures), errors=tuple(errors), **kwargs)


def _bug(*runs: Run, name: str = "rope_bug") -> Entry:
    return Entry(name, "bug", f"bugs/{name}.py", "Rotated the wrong pairs.", ("run_rope",), runs)


def _correct(*runs: Run, name: str = "einsum") -> Entry:
    return Entry(name, "correct", f"correct/{name}.py", "Einsum everywhere.", (), runs)


def test_a_bug_must_die_by_a_scored_check_and_a_precision_defect_by_findings_only() -> None:
    """SPEC §5: float64/float16/bfloat16 checks of most adapters are findings. A bug only they catch survives the
    scored checks (it belongs in findings/); a precision-only defect that a scored check fails means that check
    would fail correct code computing at the working precision; a correct implementation may show findings."""
    scored, finding = FailedTest("m::law[float32]", "x"), FailedTest("m::law[float64]", "y", "float64")
    assert _bug(_run(failures=[scored, finding])).ok
    only_findings = _bug(_run(failures=[finding]))
    assert not only_findings.ok and only_findings.verdict.startswith("SURVIVED every scored check (only findings")
    precision = Entry(
        "softmax_in_float32", "finding", "findings/x.py", "", ("run_softmax",), (_run(failures=[finding]),)
    )
    assert precision.ok and precision.verdict.startswith("reported as a finding by 1")
    overruled = Entry("x", "finding", "findings/x.py", "", ("run_softmax",), (_run(failures=[finding, scored]),))
    assert not overruled.ok and overruled.verdict.startswith("SCORED CHECKS FAIL a precision-only defect")
    assert _correct(_run(status="failed", failures=[finding])).ok
    assert not _correct(_run(status="failed", failures=[scored])).ok


def test_junit_properties_carry_the_kind_of_check() -> None:
    xml = """<testsuites><testsuite>
      <testcase classname="properties.test_softmax" name="test_a[float64-impl.bug]" time="0.1">
        <properties><property name="check" value="float64"/></properties>
        <failure message="law broken">E</failure>
      </testcase>
      <testcase classname="properties.test_softmax" name="test_a[float32-impl.bug]" time="0.1">
        <failure message="law broken">E</failure>
      </testcase>
    </testsuite></testsuites>"""
    assert [case.check for case in parse_junit(xml)] == ["float64", "scored"]


# ---------------------------------------------------------------- JUnit


def test_split_parameters_takes_the_impl_part_out_of_a_test_name():
    assert split_parameters("test_x[float32-impl.einsum]") == ("test_x[float32]", "einsum", None)
    assert split_parameters("test_x[impl.a_b-float16]") == ("test_x[float16]", "a_b", None)
    assert split_parameters("test_x[impl.a]") == ("test_x", "a", None)
    assert split_parameters("test_x[-1000.0-impl.a]") == ("test_x[-1000.0]", "a", None)
    assert split_parameters("test_x[float32]") == ("test_x[float32]", None, None)
    assert split_parameters("test_x") == ("test_x", None, None)


def test_split_parameters_takes_the_seed_part_out_too():
    assert split_parameters("test_x[float32-impl.einsum-seed.3]") == ("test_x[float32]", "einsum", 3)
    assert split_parameters("test_x[impl.a-seed.12]") == ("test_x", "a", 12)
    assert split_parameters("test_x[seed.4]") == ("test_x", None, 4)
    # Only ``seed.`` and digits is the plugin's part; a parameter value that merely looks alike stays.
    assert split_parameters("test_x[seed.x-impl.a]") == ("test_x[seed.x]", "a", None)


def test_parse_junit_names_outcomes_messages_and_implementations():
    cases = parse_junit(JUNIT)
    assert cases == [
        Case("test_rope::test_norm[float32]", "einsum", "passed", seconds=0.1),
        Case(
            "test_rope::test_shift[float32]",
            "rope_bug",
            "failed",
            "AssertionError: law broken: rope keeps norms\n  inputs: x (2, 4)\n  third",
            0.2,
        ),
        Case("test_rope.TestPairs::test_pairs", "rope_bug", "failed", "plain text only", 0.1),
        Case("test_softmax::test_sum[-1000.0]", "einsum", "skipped", "not implemented"),
        Case("test_softmax::test_fixture", "einsum", "error", "failed on setup with ImportError"),
        Case("test_strategies::test_shapes", None, "passed"),
        # The plugin's own skip is no ordinary skip: the test never ran against an already killed bug.
        Case("test_differential::test_matches", "rope_bug", "spared", f"{SPARED} 3 properties"),
    ]


def test_parse_junit_reads_the_seed_of_a_repeated_test():
    cases = parse_junit(JUNIT_SEEDS)
    assert [(case.test, case.implementation, case.seed) for case in cases[:3]] == [
        ("test_rope::test_norm", "einsum", 0),
        ("test_rope::test_norm", "einsum", 1),
        ("test_rope::test_fixed[float32]", "einsum", None),
    ]


def test_runs_from_cases_splits_one_report_by_implementation():
    runs = runs_from_cases(parse_junit(JUNIT), ["rope_bug", "einsum", "gone"], (3,), {"gone": "E"})
    (rope_bug,) = runs["rope_bug"]
    assert (rope_bug.seed, rope_bug.status) == (3, "failed")
    assert [failure.test for failure in rope_bug.failures] == [
        "test_rope::test_shift[float32]",
        "test_rope.TestPairs::test_pairs",
    ]
    # The spared case is counted as spared, neither as a test that passed nor as a skip.
    assert (rope_bug.tests, rope_bug.skipped, rope_bug.spared) == (2, 0, 1)
    assert rope_bug.seconds == pytest.approx(0.3)  # its own cases' time, not the whole process's
    (einsum,) = runs["einsum"]
    assert (einsum.status, einsum.tests, einsum.skipped, einsum.spared, einsum.failures) == ("failed", 3, 1, 0, ())
    assert einsum.errors == (FailedTest("test_softmax::test_fixture", "failed on setup with ImportError"),)
    assert runs["gone"] == [Run(3, "broken", 0.0, detail="could not be loaded: E")]


def test_runs_from_cases_gives_each_seed_its_own_run():
    cases = parse_junit(JUNIT_SEEDS)
    runs = runs_from_cases(cases, ["einsum", "other", "gone"], (0, 1), {"gone": "E"})
    einsum = runs["einsum"]
    assert [run.seed for run in einsum] == [0, 1]
    # The seedless test ran once but belongs to every seed's run; the seeded failure only to seed 1's.
    assert [(run.status, run.tests) for run in einsum] == [("passed", 2), ("failed", 2)]
    assert einsum[0].clean
    assert einsum[1].failures == (FailedTest("test_rope::test_norm", "AssertionError: law broken at seed 1"),)
    assert [run.seconds for run in einsum] == [0.75, 0.75]
    assert [(run.seed, run.clean, run.tests) for run in runs["other"]] == [(0, True, 2), (1, True, 2)]
    assert [(run.seed, run.status) for run in runs["gone"]] == [(0, "broken"), (1, "broken")]


def test_a_failure_of_a_test_shared_by_all_implementations_is_an_error_of_each():
    cases = [Case("test_strategies::test_shapes", None, "failed", "boom"), Case("m::t", "a", "passed")]
    runs = runs_from_cases(cases, ["a"], (0, 1), {})["a"]
    for run in runs:  # of every seed too: the shared test ran for all of them
        assert run.failures == ()
        assert run.errors == (FailedTest("test_strategies::test_shapes (shared)", "boom"),)
        assert not run.clean


def test_collapse_parameters_groups_one_property():
    names = ["m::t[float32]", "m::t[float16]", "m::u", "n::t[float32]"]
    assert collapse_parameters(names) == ["m::t[×2]", "m::u", "n::t"]


# ---------------------------------------------------------------- verdicts and exit status


def test_a_bug_failed_by_tests_is_killed_and_names_them():
    failures = [FailedTest(f"test_rope::test_{i}[float32]", "law broken") for i in range(5)]
    entry = _bug(_run(failures=[*failures, failures[0]]))
    assert entry.ok
    assert entry.killers == tuple(failure.test for failure in failures)
    assert entry.verdict.startswith("killed by 5 (5 tests): test_rope::test_0, test_rope::test_1, test_rope::test_2")
    assert entry.verdict.endswith("(+2)")


def test_a_killed_bugs_verdict_counts_the_tests_it_was_spared():
    entry = _bug(_run(failures=[FailedTest("m::t[float32]", "x")], spared=4), _run(spared=2, seed=1))
    assert entry.ok
    assert entry.verdict == "killed by 1 (1 tests, 6 more spared): m::t"


def test_a_bug_nothing_fails_survives():
    entry = _bug(_run(status="passed"))
    assert not entry.ok
    assert entry.verdict == "SURVIVED (5 tests passed or skipped)"


def test_errors_alone_are_not_a_kill():
    entry = _bug(_run(errors=[FailedTest("test_x::test_a", "ImportError: no module named foo")]))
    assert not entry.ok
    assert entry.verdict == "ERROR (not a kill): ImportError: no module named foo"


def test_a_timed_out_or_broken_bug_run_is_reported_not_killed():
    assert _bug(Run(0, "timeout", 600.0, detail="no result within 600 s")).verdict.startswith("TIMED OUT after 600 s")
    broken = _bug(Run(0, "broken", 2.0, detail="pytest exit 5: no tests ran"))
    assert not broken.ok
    assert broken.verdict == "ERROR (not a kill): pytest exit 5: no tests ran"


def test_a_correct_implementation_needs_every_run_clean():
    clean = _correct(*(_run(status="passed", seed=seed) for seed in range(3)))
    assert clean.ok
    assert clean.verdict == "3/3 runs clean"
    failing = _correct(
        _run(status="passed", seed=0),
        _run(seed=1, failures=[FailedTest("test_rope::test_x[float16]", "AssertionError: law broken\nmore")]),
        Run(2, "timeout", 9.0, detail="no result within 9 s"),
    )
    assert not failing.ok
    assert failing.verdict == (
        "1/3 runs clean; seed 1: test_rope::test_x[float16]: AssertionError: law broken | "
        "seed 2: TIMEOUT no result within 9 s"
    )


def test_an_entry_without_runs_is_not_ok():
    assert not _bug().ok
    assert _bug().verdict == "NOT RUN"


def test_exit_status_and_summary():
    killed = _bug(_run(failures=[FailedTest("m::t", "x")]))
    clean = _correct(_run(status="passed"))
    assert CatalogResult((killed, clean), 12.3).exit_status == 0
    assert CatalogResult((killed, clean), 12.3).summary == (
        "OK: 1/1 bugs killed by scored checks; 1/1 correct implementations clean (1/1 runs) in 12 s"
    )
    survived = _bug(_run(status="passed"), name="other")
    assert CatalogResult((killed, survived, clean), 1.0).exit_status == 1
    assert CatalogResult((killed, survived, clean), 1.0).summary.startswith("FAILED: 1/2 bugs killed")
    assert CatalogResult((), 0.0).exit_status == 1


def test_json_and_table_come_from_one_result():
    result = CatalogResult((_bug(_run(failures=[FailedTest("m::t", "x")])), _correct(_run(status="passed"))), 3.0)
    data = json.loads(json.dumps(result.to_json()))
    assert data["ok"] is True
    assert data["summary"] == result.summary
    assert [entry["verdict"] for entry in data["entries"]] == [entry.verdict for entry in result.entries]
    assert data["entries"][0]["killed_by"] == ["m::t"]
    assert data["entries"][0]["adapters"] == ["run_rope"]
    assert data["entries"][0]["runs"][0]["failures"] == [{"test": "m::t", "message": "x", "check": "scored"}]
    assert render_table(result).row_count == 2


# ---------------------------------------------------------------- discovery


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_description_is_the_docstrings_first_line_read_without_importing(tmp_path):
    module = _write(tmp_path / "a.py", '"""Swapped sin and cos.\n\nDetails.\n"""\nimport no_such_module\n')
    assert description(module) == "Swapped sin and cos."
    assert description(_write(tmp_path / "b.py", "x = 1\n")) == "(no docstring)"
    assert description(_write(tmp_path / "c.py", "def (:\n")) == "(unreadable: not a Python module)"


def test_defined_adapters_are_the_protocol_functions_a_file_defines_itself(tmp_path):
    source = """
        from reference.adapters import *  # noqa: F403
        def _helper(): ...
        def run_block_helper(): ...
        def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions): ...
        run_silu = _helper
        run_softmax, run_linear = adapters(Bug)
    """
    expected = ("run_rope", "run_silu", "run_softmax", "run_linear")
    assert defined_adapters(_write(tmp_path / "bug.py", source)) == expected


def test_discover_finds_both_kinds_skips_private_files_and_filters(tmp_path):
    for name in ("bugs/rope_a.py", "bugs/mha_b.py", "bugs/__init__.py", "correct/einsum.py"):
        _write(tmp_path / name, f'"""{name}"""\ndef run_rope(): ...\n')
    entries = discover(tmp_path, ["bug", "correct"])
    assert [(entry.kind, entry.name, entry.adapters) for entry in entries] == [
        ("bug", "mha_b", ("run_rope",)),
        ("bug", "rope_a", ("run_rope",)),
        ("correct", "einsum", ()),
    ]
    assert entries[0].description == "bugs/mha_b.py"
    assert [entry.name for entry in discover(tmp_path, ["bug", "correct"], ["rope_*", "einsum"])] == [
        "rope_a",
        "einsum",
    ]
    assert discover(tmp_path, ["correct"], ["rope_*"]) == []


# ---------------------------------------------------------------- which tests can observe a bug


def test_only_tests_that_declare_none_of_the_overridden_adapters_are_deselected():
    assert can_observe(("run_rope", "run_linear"), ["run_rope"])
    assert not can_observe(("run_linear",), ["run_rope"])
    assert can_observe((), ["run_rope"])  # declares no adapter: kept


# ---------------------------------------------------------------- planning and running


def test_plan_groups_bugs_and_runs_all_correct_implementations_in_seed_chunks(monkeypatch):
    monkeypatch.setattr(runner_tasks, "BUGS_PER_PROCESS", 2)
    monkeypatch.setattr(runner_tasks, "SEEDS_PER_PROCESS", 2)
    bugs = [_bug(name=f"b{i}") for i in range(5)]
    tasks = plan([*bugs, _correct(name="c1"), _correct(name="c2")], runs=5, bug_seed=7, kills=2)
    assert [(task.names, task.seeds, task.profile, task.select, task.kills, task.repeat) for task in tasks] == [
        (("b0", "b3"), (7,), "catalog", True, 2, False),
        (("b1", "b4"), (7,), "catalog", True, 2, False),
        (("b2",), (7,), "catalog", True, 2, False),
        # Every seed 0 … runs-1 exactly once; correct implementations are never spared.
        (("c1", "c2"), (0, 1), "catalog-repeat", False, 0, True),
        (("c1", "c2"), (2, 3), "catalog-repeat", False, 0, True),
        (("c1", "c2"), (4,), "catalog-repeat", False, 0, True),
    ]
    # Spread over the workers: seeds split evenly, and with fewer seeds than workers the implementations too.
    three = [_correct(name="c1"), _correct(name="c2"), _correct(name="c3")]
    even = plan(three, runs=3, bug_seed=0, jobs=3)
    assert [(task.names, task.seeds) for task in even] == [(("c1", "c2", "c3"), (seed,)) for seed in range(3)]
    few = plan(three, runs=1, bug_seed=0, jobs=2)
    assert [(task.names, task.seeds) for task in few] == [(("c1", "c3"), (0,)), (("c2",), (0,))]
    full = plan(bugs, runs=1, bug_seed=0, full=True)
    assert all(not task.select and task.kills == DEFAULT_KILLS for task in full)


def test_task_split_takes_entries_apart_first_then_seeds():
    a, b = _correct(name="a"), _correct(name="b")
    task = Task((a, b), (0, 1, 2), "catalog-repeat", select=False, repeat=True)
    parts = task.split()
    assert [(part.names, part.seeds) for part in parts] == [(("a",), (0, 1, 2)), (("b",), (0, 1, 2))]
    assert all((part.profile, part.select, part.repeat) == ("catalog-repeat", False, True) for part in parts)
    assert [(part.names, part.seeds) for part in parts[0].split()] == [(("a",), (0,)), (("a",), (1,)), (("a",), (2,))]
    assert all(part.repeat for part in parts[0].split())  # a lone seed still runs the way it ran in the chunk
    assert Task((a,), (0,), "catalog").split() == []


def test_task_command_and_environment_carry_seeds_and_kills(tmp_path):
    bug = Task((_bug(),), (7,), "catalog", kills=3)
    command, env = build_command(bug, tmp_path / "r.xml"), task_environment(bug, tmp_path / "n")
    assert "--hypothesis-seed=7" in command
    assert (env[SEEDS_ENV], env[KILLS_ENV], env["HYPOTHESIS_PROFILE"]) == ("", "3", "catalog")
    repeated = Task((_correct(),), (0, 1), "catalog-repeat", select=False, repeat=True)
    command, env = build_command(repeated, tmp_path / "r.xml"), task_environment(repeated, tmp_path)
    # The plugin seeds each repeated test itself; a global --hypothesis-seed would override nothing but confuse.
    assert not any(part.startswith("--hypothesis-seed") for part in command)
    assert (env[SEEDS_ENV], env[KILLS_ENV]) == ("0,1", "0")


def test_correct_profile_draws_the_examples_the_docstring_promises():
    from hypothesis import settings

    import properties.conftest  # noqa: F401  (registers the profiles)

    assert settings.get_profile(CORRECT_PROFILE).max_examples == CORRECT_EXAMPLES
    assert settings.get_profile(CORRECT_PROFILE).database is None
    assert settings.get_profile(BUG_PROFILE).database is None


def test_run_catalog_reports_progress_retries_a_broken_group_singly_and_survives_runner_errors():
    entries = [_bug(name="good"), _bug(name="hangs"), _correct(name="c"), _bug(name="boom")]
    seen: list[tuple[str, ...]] = []

    def fake_run(task: Task) -> dict[str, list[Run]]:
        seen.append(task.names)
        if "boom" in task.names and len(task.names) == 1:
            raise RuntimeError("disk full")
        if "hangs" in task.names:
            return _all(task, "timeout", 5.0, "no result within 5 s")
        return {
            name: [_run(failures=[FailedTest("m::t", "x")], seed=seed) for seed in task.seeds] for name in task.names
        }

    progress = []
    result = run_catalog(entries, runs=2, jobs=2, run=fake_run, on_progress=lambda *a: progress.append(a))
    assert sorted(seen) == sorted(
        # the group, then singly; the correct implementation's two seeds on the two workers
        [("good", "hangs", "boom"), ("good",), ("hangs",), ("boom",), ("c",), ("c",)]
    )
    by_name = {entry.name: entry for entry in result.entries}
    assert by_name["good"].ok
    assert by_name["hangs"].verdict.startswith("TIMED OUT")
    assert by_name["boom"].verdict == "ERROR (not a kill): runner error: RuntimeError: disk full"
    assert [run.seed for run in by_name["c"].runs] == [0, 1]
    assert not by_name["c"].ok
    assert {entry.name for entry, _, _ in progress if entry is not None} == {"good", "hangs", "boom", "c"}
    assert progress[-1][1:] == (6, 6)
    assert result.exit_status == 1


def test_run_catalog_retries_a_broken_seed_chunk_seed_by_seed():
    entries = [_correct(name="c1"), _correct(name="c2")]
    seen: list[tuple[tuple[str, ...], tuple[int, ...]]] = []

    def fake_run(task: Task) -> dict[str, list[Run]]:
        seen.append((task.names, task.seeds))
        if 1 in task.seeds:  # seed 1 hangs whichever process draws it
            return _all(task, "timeout", 5.0, "no result within 5 s")
        return {name: [_run(status="passed", seed=seed) for seed in task.seeds] for name in task.names}

    progress = []
    result = run_catalog(entries, runs=3, jobs=1, run=fake_run, on_progress=lambda *a: progress.append(a))
    assert sorted(seen) == sorted(
        [(("c1", "c2"), (0, 1, 2)), (("c1",), (0, 1, 2)), (("c2",), (0, 1, 2))]  # the chunk, then each entry,
        + [((name,), (seed,)) for name in ("c1", "c2") for seed in (0, 1, 2)]  # then each entry's seeds
    )
    for entry in result.entries:
        # One run per seed: the broken attempts are replaced, not added; only seed 1 is blamed.
        assert [(run.seed, run.status) for run in entry.runs] == [(0, "passed"), (1, "timeout"), (2, "passed")]
        assert entry.verdict == "2/3 runs clean; seed 1: TIMEOUT no result within 5 s"
    reported = [entry.name for entry, _, _ in progress if entry is not None]
    assert sorted(reported) == ["c1", "c2"]  # each once, when all its runs are in
    assert progress[-1][1:] == (9, 9)
    assert result.settings["processes"] == 9


def test_a_hung_run_is_killed_at_its_timeout_and_reported():
    task = Task((_bug(name="hangs"),), (0, 1), "catalog-repeat", repeat=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    runs = run_task(task, timeout=0.5, command_for=lambda task, junit: sleeper)
    assert [(run.seed, run.status) for run in runs["hangs"]] == [(0, "timeout"), (1, "timeout")]
    assert all(run.seconds < 30 for run in runs["hangs"])


FAKE_CONFTEST = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--device")
    parser.addoption("--findings")

@pytest.fixture(scope="session")
def adapters():
    raise RuntimeError("the catalog plugin parametrizes this fixture")
"""

FAKE_TESTS = """
import pytest

@pytest.mark.adapters("run_linear")
def test_linear_doubles(adapters):
    assert adapters.run_linear(2) == 4, "law broken: run_linear doubles"

@pytest.mark.adapters("run_softmax")
def test_softmax_is_identity(adapters):
    assert adapters.run_softmax(3) == 3, "law broken: run_softmax is the identity here"

def test_without_adapters():
    assert True
"""

# Logs every drawn example with the test's id (which holds ``impl.NAME-seed.N``), so the draws of each seed show.
FAKE_SEEDED_TESTS = """
import os

from hypothesis import given, settings, strategies as st

@settings(max_examples=4, database=None)
@given(x=st.integers(0, 10**12))
def test_linear_doubles_any(adapters, x):
    run = os.environ["PYTEST_CURRENT_TEST"].split("[", 1)[1].split("]", 1)[0]
    with open("draws.txt", "a") as log:
        log.write(f"{run} {x}\\n")
    assert adapters.run_linear(x) == 2 * x

def test_linear_doubles(adapters):
    assert adapters.run_linear(2) == 4
"""

# Alphabetically the differential module would run first; the plugin runs its test last, after the named laws.
FAKE_LAWS = """
import pytest

@pytest.mark.adapters("run_linear")
def test_linear_doubles(adapters):
    assert adapters.run_linear(2) == 4, "law broken: run_linear doubles"

@pytest.mark.adapters("run_linear")
def test_linear_keeps_zero(adapters):
    assert adapters.run_linear(0) == 0

@pytest.mark.adapters("run_softmax")
def test_softmax_is_identity(adapters):
    assert adapters.run_softmax(3) == 3

def test_without_adapters():
    assert True
"""

FAKE_DIFFERENTIAL = """
import pytest

@pytest.mark.adapters("run_linear")
def test_agrees_with_reference(adapters):
    assert adapters.run_linear(5) == 10, "differs from the reference"
"""

GOOD = '"""Fine."""\ndef run_linear(x):\n    return 2 * x\n\ndef run_softmax(x):\n    return x\n'
BAD_LINEAR = '"""Triples."""\ndef run_linear(x):\n    return 3 * x\n\ndef run_softmax(x):\n    return x\n'
# Overrides only run_softmax, correctly: the linear test cannot see it and is deselected.
SOFTMAX_ONLY = '"""Only softmax."""\ndef run_linear(x):\n    return 3 * x\n\ndef run_softmax(x):\n    return x\n'


@pytest.fixture
def fake_suite(tmp_path: Path) -> Path:
    _write(tmp_path / "conftest.py", FAKE_CONFTEST)
    _write(tmp_path / "suite" / "test_fake.py", FAKE_TESTS)
    _write(tmp_path / "seeded" / "test_seeded.py", FAKE_SEEDED_TESTS)
    _write(tmp_path / "kills" / "test_laws.py", FAKE_LAWS)
    _write(tmp_path / "kills" / "test_differential.py", FAKE_DIFFERENTIAL)
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_one_process_tests_several_entries_and_deselects_what_a_bug_cannot_reach(fake_suite):
    entries = (
        Entry("bad", "bug", str(_write(fake_suite / "bad.py", BAD_LINEAR)), "", ("run_linear",)),
        Entry("softmax_only", "bug", str(_write(fake_suite / "softmax_only.py", SOFTMAX_ONLY)), "", ("run_softmax",)),
        Entry("good", "bug", str(_write(fake_suite / "good.py", GOOD)), "", ("run_linear", "run_softmax")),
    )
    runs = run_task(Task(entries, (0,), "catalog"), timeout=120, cwd=fake_suite, suite="suite")
    (bad,), (softmax_only,), (good,) = runs["bad"], runs["softmax_only"], runs["good"]
    assert (bad.seed, bad.status) == (0, "failed")
    assert [failure.test for failure in bad.failures] == ["suite.test_fake::test_linear_doubles"]
    assert "law broken: run_linear doubles" in bad.failures[0].message
    assert bad.tests == 1  # its softmax test was deselected: bad.py's run_softmax is not the bug
    assert softmax_only.clean and softmax_only.tests == 1
    assert good.clean and good.tests == 2


def test_a_repeated_process_runs_each_hypothesis_test_once_per_seed(fake_suite):
    entries = (
        Entry("good", "correct", str(_write(fake_suite / "good.py", GOOD)), ""),
        Entry("twin", "correct", str(_write(fake_suite / "twin.py", GOOD)), ""),
    )
    task = Task(entries, (3, 4), "catalog-repeat", select=False, repeat=True)
    runs = run_task(task, timeout=120, cwd=fake_suite, suite="seeded")
    for name in ("good", "twin"):
        # Each seed's run: the Hypothesis test at that seed plus the plain test, which ran once.
        assert [(run.seed, run.clean, run.tests) for run in runs[name]] == [(3, True, 2), (4, True, 2)]
    draws: dict[str, list[str]] = {}
    for line in (fake_suite / "draws.txt").read_text().splitlines():
        run, value = line.split()
        draws.setdefault(run, []).append(value)
    assert sorted(draws) == ["impl.good-seed.3", "impl.good-seed.4", "impl.twin-seed.3", "impl.twin-seed.4"]
    # The seed, not chance, decides the draws: one seed draws alike for both entries, two seeds differ.
    assert draws["impl.good-seed.3"] == draws["impl.twin-seed.3"]
    assert draws["impl.good-seed.4"] == draws["impl.twin-seed.4"]
    assert draws["impl.good-seed.3"] != draws["impl.good-seed.4"]


def test_a_killed_bug_is_spared_its_remaining_tests(fake_suite):
    entries = (
        Entry("bad", "bug", str(_write(fake_suite / "bad.py", BAD_LINEAR)), "", ("run_linear",)),
        Entry("good", "bug", str(_write(fake_suite / "good.py", GOOD)), "", ("run_linear", "run_softmax")),
    )
    # select=False (--full): nothing is deselected, so every spared test is one that would have run.
    task = Task(entries, (0,), "catalog", select=False, kills=1)
    runs = run_task(task, timeout=120, cwd=fake_suite, suite="kills")
    (bad,), (good,) = runs["bad"], runs["good"]
    # The first named law killed it; the other two laws and the differential test never ran.
    assert [failure.test for failure in bad.failures] == ["kills.test_laws::test_linear_doubles"]
    assert (bad.tests, bad.skipped, bad.spared) == (1, 0, 3)
    verdict = replace(entries[0], runs=(bad,)).verdict
    assert verdict == "killed by 1 (1 tests, 3 more spared): kills.test_laws::test_linear_doubles"
    # Sparing is per implementation: one never killed runs everything.
    assert good.clean and (good.tests, good.spared) == (4, 0)


def test_an_unloadable_entry_is_broken_not_killed(fake_suite):
    entries = (
        Entry("good", "correct", str(_write(fake_suite / "good.py", GOOD)), ""),
        Entry("syntax", "correct", str(_write(fake_suite / "syntax.py", "def (:\n")), ""),
    )
    runs = run_task(Task(entries, (1,), "catalog-repeat", False), timeout=120, cwd=fake_suite, suite="suite")
    assert runs["good"][0].clean
    assert [(run.seed, run.status) for run in runs["syntax"]] == [(1, "broken")]
    assert "could not be loaded" in runs["syntax"][0].detail


def test_run_task_without_tests_is_broken(fake_suite):
    entry = Entry("good", "bug", str(_write(fake_suite / "good.py", GOOD)), "", ("run_linear",))
    runs = run_task(Task((entry,), (), "catalog"), timeout=120, cwd=fake_suite, suite="empty")
    assert [(run.seed, run.status) for run in runs["good"]] == [(None, "broken")]
    assert runs["good"][0].detail.startswith("pytest exit 5")


# ---------------------------------------------------------------- command line


def test_main_prints_writes_json_and_sets_the_exit_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps the table to the terminal; keep rows on one line
    _write(tmp_path / "bugs" / "rope_a.py", '"""Rotated the wrong pairs."""\ndef run_rope(): ...\n')
    _write(tmp_path / "correct" / "einsum.py", '"""Einsum everywhere."""\n')

    def fake_run_task(task: Task, *, timeout: float) -> dict[str, list[Run]]:
        if task.names == ("rope_a",):
            return {"rope_a": [_run(failures=[FailedTest("test_rope::test_pairs[float32]", "law broken")])]}
        return {name: [_run(status="passed", seed=seed) for seed in task.seeds] for name in task.names}

    monkeypatch.setattr(runner_tasks, "run_task", fake_run_task)
    report = tmp_path / "catalog.json"
    status = main(["--catalog", str(tmp_path), "--runs", "2", "--json", str(report)])
    output = capsys.readouterr().out
    assert status == 0
    assert "Rotated the wrong pairs." in output
    assert "OK: 1/1 bugs killed by scored checks; 1/1 correct implementations clean (2/2 runs)" in output
    data = json.loads(report.read_text())
    assert [entry["name"] for entry in data["entries"]] == ["rope_a", "einsum"]
    assert data["entries"][0]["killed_by"] == ["test_rope::test_pairs[float32]"]

    survive = {"rope_a": [_run(status="passed")]}
    monkeypatch.setattr(runner_tasks, "run_task", lambda task, *, timeout: survive)
    assert main(["--catalog", str(tmp_path), "--bugs"]) == 1
    assert "SURVIVED" in capsys.readouterr().out
    assert main(["--catalog", str(tmp_path), "--only", "nothing*"]) == 2


def test_bad_arguments_are_usage_errors():
    with pytest.raises(SystemExit):
        parse_arguments(["--runs", "0"])
    with pytest.raises(SystemExit):
        parse_arguments(["--kills", "-1"])
    assert parse_arguments([]).kills == DEFAULT_KILLS


# ---------------------------------------------------------------- flattening


def _bug_paths() -> list[Path]:
    folders = (CATALOG / "bugs", CATALOG / "findings")
    return sorted(path for folder in folders for path in folder.glob("*.py") if not path.name.startswith("_"))


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outcome(function, sample):
    args, kwargs = sample
    with torch.no_grad():
        try:
            return function(*args, **kwargs)
        except Exception as error:  # the adapter's own failure, compared as an outcome
            return type(error)


@pytest.mark.parametrize("path", _bug_paths(), ids=lambda path: path.stem)
def test_a_flattened_bug_is_standalone_and_computes_what_the_bug_computes(path: Path, tmp_path: Path) -> None:
    """The flattened file imports nothing of the project and, on the protocol's samples, its overridden adapters
    give the bug's outputs (up to the rounding of the stand-in's other adapters) or fail the same way."""
    source = flatten(path)
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    # numpy is a dependency of the project, so a graded box has it (a bug may round-trip through it).
    allowed = {"__future__", "math", "collections", "torch", "numpy"}
    assert {name.split(".")[0] for name in imported} <= allowed, imported
    flat = _load(_write(tmp_path / f"{path.stem}.py", source), f"flat_{path.stem}")
    bug = _load(path, f"bug_{path.stem}")
    compared = 0
    for name in defined_adapters(path):
        for sample in ADAPTERS[name].samples():
            # Each on its own copy: a bug may change its arguments in place.
            expected = _outcome(getattr(bug, name), copy.deepcopy(sample))
            actual = _outcome(getattr(flat, name), copy.deepcopy(sample))
            if isinstance(expected, type):
                assert isinstance(actual, type), f"{name}: the bug raises {expected.__name__}, the flattened file not"
            else:
                assert_law(actual, expected, f"{name} of the flattened bug", tol=Tolerance(1e-4, 1e-5, "stand-in"))
            compared += 1
    assert compared, "the bug defines no adapter with samples: nothing was compared"
