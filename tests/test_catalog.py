"""Unit tests of ``tools.catalog``: JUnit parsing, verdicts, exit status, discovery, deselection, timeouts, the CLI.

No test here runs the property suite: the runner is exercised on a tiny fake
suite (a conftest and one test module in a temporary folder, no torch) or
replaced by a function returning canned runs.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tools import catalog
from tools.catalog import Case, CatalogResult, Entry, FailedTest, Run, Task

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
</testsuite></testsuites>
"""


def _run(status="failed", failures=(), errors=(), seed=0, **kwargs) -> Run:
    return Run(seed, status, 1.0, tests=5, failures=tuple(failures), errors=tuple(errors), **kwargs)


def _bug(*runs: Run, name: str = "rope_bug") -> Entry:
    return Entry(name, "bug", f"bugs/{name}.py", "Rotated the wrong pairs.", ("run_rope",), runs)


def _correct(*runs: Run, name: str = "einsum") -> Entry:
    return Entry(name, "correct", f"correct/{name}.py", "Einsum everywhere.", (), runs)


# ---------------------------------------------------------------- JUnit


def test_split_implementation_takes_the_impl_part_out_of_a_test_name():
    assert catalog.split_implementation("test_x[float32-impl.einsum]") == ("test_x[float32]", "einsum")
    assert catalog.split_implementation("test_x[impl.a_b-float16]") == ("test_x[float16]", "a_b")
    assert catalog.split_implementation("test_x[impl.a]") == ("test_x", "a")
    assert catalog.split_implementation("test_x[-1000.0-impl.a]") == ("test_x[-1000.0]", "a")
    assert catalog.split_implementation("test_x[float32]") == ("test_x[float32]", None)
    assert catalog.split_implementation("test_x") == ("test_x", None)


def test_parse_junit_names_outcomes_messages_and_implementations():
    cases = catalog.parse_junit(JUNIT)
    assert cases == [
        Case("test_rope::test_norm[float32]", "einsum", "passed"),
        Case(
            "test_rope::test_shift[float32]",
            "rope_bug",
            "failed",
            "AssertionError: law broken: rope keeps norms\n  inputs: x (2, 4)\n  third",
        ),
        Case("test_rope.TestPairs::test_pairs", "rope_bug", "failed", "plain text only"),
        Case("test_softmax::test_sum[-1000.0]", "einsum", "skipped", "not implemented"),
        Case("test_softmax::test_fixture", "einsum", "error", "failed on setup with ImportError"),
        Case("test_strategies::test_shapes", None, "passed"),
    ]


def test_runs_from_cases_splits_one_report_by_implementation():
    runs = catalog.runs_from_cases(catalog.parse_junit(JUNIT), ["rope_bug", "einsum", "gone"], 3, 9.0, {"gone": "E"})
    assert runs["rope_bug"].status == "failed"
    assert [failure.test for failure in runs["rope_bug"].failures] == [
        "test_rope::test_shift[float32]",
        "test_rope.TestPairs::test_pairs",
    ]
    assert runs["rope_bug"].tests == 2
    einsum = runs["einsum"]
    assert (einsum.status, einsum.tests, einsum.skipped, einsum.failures) == ("failed", 3, 1, ())
    assert einsum.errors == (FailedTest("test_softmax::test_fixture", "failed on setup with ImportError"),)
    assert runs["gone"] == Run(3, "broken", 9.0, detail="could not be loaded: E")


def test_a_failure_of_a_test_shared_by_all_implementations_is_an_error_of_each():
    cases = [Case("test_strategies::test_shapes", None, "failed", "boom"), Case("m::t", "a", "passed")]
    run = catalog.runs_from_cases(cases, ["a"], 0, 1.0, {})["a"]
    assert run.failures == ()
    assert run.errors == (FailedTest("test_strategies::test_shapes (shared)", "boom"),)
    assert not run.clean


def test_collapse_parameters_groups_one_property():
    names = ["m::t[float32]", "m::t[float16]", "m::u", "n::t[float32]"]
    assert catalog.collapse_parameters(names) == ["m::t[×2]", "m::u", "n::t"]


# ---------------------------------------------------------------- verdicts and exit status


def test_a_bug_failed_by_tests_is_killed_and_names_them():
    failures = [FailedTest(f"test_rope::test_{i}[float32]", "law broken") for i in range(5)]
    entry = _bug(_run(failures=[*failures, failures[0]]))
    assert entry.ok
    assert entry.killers == tuple(failure.test for failure in failures)
    assert entry.verdict.startswith("killed by 5 (5 tests): test_rope::test_0, test_rope::test_1, test_rope::test_2")
    assert entry.verdict.endswith("(+2)")


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
        "OK: 1/1 bugs killed; 1/1 correct implementations clean (1/1 runs) in 12 s"
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
    assert data["entries"][0]["runs"][0]["failures"] == [{"test": "m::t", "message": "x"}]
    assert catalog.render_table(result).row_count == 2


# ---------------------------------------------------------------- discovery


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_description_is_the_docstrings_first_line_read_without_importing(tmp_path):
    module = _write(tmp_path / "a.py", '"""Swapped sin and cos.\n\nDetails.\n"""\nimport no_such_module\n')
    assert catalog.description(module) == "Swapped sin and cos."
    assert catalog.description(_write(tmp_path / "b.py", "x = 1\n")) == "(no docstring)"
    assert catalog.description(_write(tmp_path / "c.py", "def (:\n")) == "(unreadable: not a Python module)"


def test_defined_adapters_are_the_protocol_functions_a_file_defines_itself(tmp_path):
    source = """
        from reference.adapters import *  # noqa: F403
        def _helper(): ...
        def run_block_helper(): ...
        def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions): ...
        run_silu = _helper
    """
    assert catalog.defined_adapters(_write(tmp_path / "bug.py", source)) == ("run_rope", "run_silu")


def test_discover_finds_both_kinds_skips_private_files_and_filters(tmp_path):
    for name in ("bugs/rope_a.py", "bugs/mha_b.py", "bugs/__init__.py", "correct/einsum.py"):
        _write(tmp_path / name, f'"""{name}"""\ndef run_rope(): ...\n')
    entries = catalog.discover(tmp_path, ["bug", "correct"])
    assert [(entry.kind, entry.name, entry.adapters) for entry in entries] == [
        ("bug", "mha_b", ("run_rope",)),
        ("bug", "rope_a", ("run_rope",)),
        ("correct", "einsum", ()),
    ]
    assert entries[0].description == "bugs/mha_b.py"
    assert [entry.name for entry in catalog.discover(tmp_path, ["bug", "correct"], ["rope_*", "einsum"])] == [
        "rope_a",
        "einsum",
    ]
    assert catalog.discover(tmp_path, ["correct"], ["rope_*"]) == []


# ---------------------------------------------------------------- which tests can observe a bug

TABLE = {"linear": "run_linear"}


def _helper_calls_softmax(implementation):
    return implementation("run_softmax")


def _test_through_a_helper(implementation):
    return _helper_calls_softmax(implementation)


def _test_through_a_table(implementation):
    return implementation(TABLE["linear"])


def _test_without_adapters():
    return 1 + 1


def test_reachable_adapters_follow_helpers_and_tables_but_not_other_names():
    assert catalog.reachable_adapters(_test_through_a_helper) == {"run_softmax"}
    assert catalog.reachable_adapters(_test_through_a_table) == {"run_linear"}
    assert catalog.reachable_adapters(_test_without_adapters) == set()
    assert catalog.mentioned_adapters("run_block(x); run_rope(y)", ["run_silu"]) == {"run_rope", "run_silu"}


def test_only_tests_that_provably_miss_every_overridden_adapter_are_deselected():
    assert catalog.can_observe({"run_rope", "run_linear"}, ["run_rope"])
    assert not catalog.can_observe({"run_linear"}, ["run_rope"])
    assert catalog.can_observe(set(), ["run_rope"])  # reaches no adapter by name: kept
    assert catalog.can_observe(None, ["run_rope"])  # source unreadable: kept


# ---------------------------------------------------------------- planning and running


def test_plan_groups_bugs_and_runs_all_correct_implementations_per_seed(monkeypatch):
    monkeypatch.setattr(catalog, "BUGS_PER_PROCESS", 2)
    bugs = [_bug(name=f"b{i}") for i in range(5)]
    tasks = catalog.plan([*bugs, _correct(name="c1"), _correct(name="c2")], runs=3, bug_seed=7)
    assert [(task.names, task.seed, task.profile, task.select) for task in tasks] == [
        (("b0", "b3"), 7, "catalog", True),
        (("b1", "b4"), 7, "catalog", True),
        (("b2",), 7, "catalog", True),
        (("c1", "c2"), 0, "catalog-repeat", False),
        (("c1", "c2"), 1, "catalog-repeat", False),
        (("c1", "c2"), 2, "catalog-repeat", False),
    ]
    assert all(not task.select for task in catalog.plan(bugs, runs=1, bug_seed=0, full=True))


def test_correct_profile_draws_the_examples_the_docstring_promises():
    from hypothesis import settings

    import properties.conftest  # noqa: F401  (registers the profiles)

    assert settings.get_profile(catalog.CORRECT_PROFILE).max_examples == catalog.CORRECT_EXAMPLES
    assert settings.get_profile(catalog.CORRECT_PROFILE).database is None
    assert settings.get_profile(catalog.BUG_PROFILE).database is None


def test_run_catalog_reports_progress_retries_a_broken_group_singly_and_survives_runner_errors():
    entries = [_bug(name="good"), _bug(name="hangs"), _correct(name="c"), _bug(name="boom")]
    seen: list[tuple[str, ...]] = []

    def fake_run(task: Task) -> dict[str, Run]:
        seen.append(task.names)
        if "boom" in task.names and len(task.names) == 1:
            raise RuntimeError("disk full")
        if "hangs" in task.names:
            return {name: Run(task.seed, "timeout", 5.0, detail="no result within 5 s") for name in task.names}
        return {name: _run(failures=[FailedTest("m::t", "x")], seed=task.seed) for name in task.names}

    progress = []
    result = catalog.run_catalog(entries, runs=2, jobs=2, run=fake_run, on_progress=lambda *a: progress.append(a))
    assert sorted(seen) == sorted(
        [("good", "hangs", "boom"), ("good",), ("hangs",), ("boom",), ("c",), ("c",)]  # the group, then singly
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


def test_a_hung_run_is_killed_at_its_timeout_and_reported():
    task = Task((_bug(name="hangs"),), 0, "catalog")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    runs = catalog.run_task(task, timeout=0.5, command_for=lambda task, junit: sleeper)
    assert runs["hangs"].status == "timeout"
    assert runs["hangs"].seconds < 30


FAKE_CONFTEST = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--device")

@pytest.fixture(scope="session")
def adapters():
    raise RuntimeError("the catalog plugin parametrizes this fixture")
"""

FAKE_TESTS = """
def test_linear_doubles(adapters):
    assert adapters.run_linear(2) == 4, "law broken: run_linear doubles"

def test_softmax_is_identity(adapters):
    assert adapters.run_softmax(3) == 3, "law broken: run_softmax is the identity here"

def test_without_adapters():
    assert True
"""

GOOD = '"""Fine."""\ndef run_linear(x):\n    return 2 * x\n\ndef run_softmax(x):\n    return x\n'
BAD_LINEAR = '"""Triples."""\ndef run_linear(x):\n    return 3 * x\n\ndef run_softmax(x):\n    return x\n'
# Overrides only run_softmax, correctly: the linear test cannot see it and is deselected.
SOFTMAX_ONLY = '"""Only softmax."""\ndef run_linear(x):\n    return 3 * x\n\ndef run_softmax(x):\n    return x\n'


@pytest.fixture
def fake_suite(tmp_path: Path) -> Path:
    _write(tmp_path / "conftest.py", FAKE_CONFTEST)
    _write(tmp_path / "suite" / "test_fake.py", FAKE_TESTS)
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_one_process_tests_several_entries_and_deselects_what_a_bug_cannot_reach(fake_suite):
    entries = (
        Entry("bad", "bug", str(_write(fake_suite / "bad.py", BAD_LINEAR)), "", ("run_linear",)),
        Entry("softmax_only", "bug", str(_write(fake_suite / "softmax_only.py", SOFTMAX_ONLY)), "", ("run_softmax",)),
        Entry("good", "bug", str(_write(fake_suite / "good.py", GOOD)), "", ("run_linear", "run_softmax")),
    )
    runs = catalog.run_task(Task(entries, 0, "catalog"), timeout=120, cwd=fake_suite, suite="suite")
    assert runs["bad"].status == "failed"
    assert [failure.test for failure in runs["bad"].failures] == ["suite.test_fake::test_linear_doubles"]
    assert "law broken: run_linear doubles" in runs["bad"].failures[0].message
    assert runs["bad"].tests == 1  # its softmax test was deselected: bad.py's run_softmax is not the bug
    assert runs["softmax_only"].clean and runs["softmax_only"].tests == 1
    assert runs["good"].clean and runs["good"].tests == 2


def test_an_unloadable_entry_is_broken_not_killed(fake_suite):
    entries = (
        Entry("good", "correct", str(_write(fake_suite / "good.py", GOOD)), ""),
        Entry("syntax", "correct", str(_write(fake_suite / "syntax.py", "def (:\n")), ""),
    )
    runs = catalog.run_task(Task(entries, 1, "catalog-repeat", False), timeout=120, cwd=fake_suite, suite="suite")
    assert runs["good"].clean
    assert runs["syntax"].status == "broken"
    assert "could not be loaded" in runs["syntax"].detail


def test_run_task_without_tests_is_broken(fake_suite):
    entry = Entry("good", "bug", str(_write(fake_suite / "good.py", GOOD)), "", ("run_linear",))
    runs = catalog.run_task(Task((entry,), None, "catalog"), timeout=120, cwd=fake_suite, suite="empty")
    assert runs["good"].status == "broken"
    assert runs["good"].detail.startswith("pytest exit 5")


# ---------------------------------------------------------------- command line


def test_main_prints_writes_json_and_sets_the_exit_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps the table to the terminal; keep rows on one line
    _write(tmp_path / "bugs" / "rope_a.py", '"""Rotated the wrong pairs."""\ndef run_rope(): ...\n')
    _write(tmp_path / "correct" / "einsum.py", '"""Einsum everywhere."""\n')

    def fake_run_task(task: Task, *, timeout: float) -> dict[str, Run]:
        if task.names == ("rope_a",):
            return {"rope_a": _run(failures=[FailedTest("test_rope::test_pairs[float32]", "law broken")])}
        return {name: _run(status="passed", seed=task.seed) for name in task.names}

    monkeypatch.setattr(catalog, "run_task", fake_run_task)
    report = tmp_path / "catalog.json"
    status = catalog.main(["--catalog", str(tmp_path), "--runs", "2", "--json", str(report)])
    output = capsys.readouterr().out
    assert status == 0
    assert "Rotated the wrong pairs." in output
    assert "OK: 1/1 bugs killed; 1/1 correct implementations clean (2/2 runs)" in output
    data = json.loads(report.read_text())
    assert [entry["name"] for entry in data["entries"]] == ["rope_a", "einsum"]
    assert data["entries"][0]["killed_by"] == ["test_rope::test_pairs[float32]"]

    survive = {"rope_a": _run(status="passed")}
    monkeypatch.setattr(catalog, "run_task", lambda task, *, timeout: survive)
    assert catalog.main(["--catalog", str(tmp_path), "--bugs"]) == 1
    assert "SURVIVED" in capsys.readouterr().out
    assert catalog.main(["--catalog", str(tmp_path), "--only", "nothing*"]) == 2


def test_bad_arguments_are_usage_errors():
    with pytest.raises(SystemExit):
        catalog.parse_arguments(["--runs", "0"])
