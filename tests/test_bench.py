"""The benchmark tool: its JSON and machine description, the ratio and verdict arithmetic, ``--compare``.

Nothing here asserts a timing: timings on a shared machine are noise to a
test. The one end-to-end run times the course test model's forward only; the
suites, the grader and HF are left to the tool's real runs (they take minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tools.bench import ROOT
from tools.bench.cases import CHECKS_OFF, CHECKS_ON, FORWARD_CASES, HF_EAGER, HF_PARITY, forward_name, pair_name
from tools.bench.cli import main
from tools.bench.compare import COMPARABLE_MACHINE, compare_metrics, render_comparison
from tools.bench.jobs import RESULT_PREFIX, Finished, run_job
from tools.bench.plan import Settings, Step, batch_name, forward_steps, grading_steps
from tools.bench.results import (
    SCHEMA_VERSION,
    BenchResult,
    JobResult,
    checks_verdict,
    compute_ratios,
    evaluate_targets,
    hf_verdict,
    interpret,
    overhead_name,
    versus_hf_name,
)

TINY, GPT2 = FORWARD_CASES["course-test"], FORWARD_CASES["gpt2-small"]
SETTINGS = Settings(sections=("grading", "forward"), models=("course-test", "gpt2-small"), batch_copies=2)


def _job(name: str, seconds: float, section: str = "forward", **fields) -> JobResult:
    return JobResult(section, name, True, wall_seconds=seconds, peak_rss_mb=100.0, seconds=seconds, **fields)


def _forward_jobs(case, overhead: list[float], on_vs_hf: list[float], off_vs_hf: list[float]) -> list[JobResult]:
    """The four jobs of one forward case, holding the given alternated-block ratios; their own times are noise."""
    parity = _job(forward_name(case, HF_PARITY), 9.0)
    parity.seconds = None
    parity.paired = {pair_name(CHECKS_ON, HF_EAGER): on_vs_hf, pair_name(CHECKS_OFF, HF_EAGER): off_vs_hf}
    return [
        _job(forward_name(case, CHECKS_ON), 0.9, paired={pair_name(CHECKS_ON, CHECKS_OFF): overhead}),
        _job(forward_name(case, CHECKS_OFF), 0.1),
        parity,
        _job(forward_name(case, HF_EAGER), 0.5),
    ]


def _machine(**changes) -> dict:
    machine = {key: "x" for key in COMPARABLE_MACHINE} | {"date": "2026-01-01", "git_commit": "abc"}
    return machine | changes


# ----- the end-to-end run -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "result.json"
    argv = [sys.executable, "-m", "tools.bench", "--quick", "--only", "forward", "--models", "course-test"]
    # Without HF: importing transformers twice would take most of this file's time budget.
    argv += ["--no-hf", "--repeats", "2", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def test_json_describes_the_machine_so_runs_can_be_compared(quick_run) -> None:
    """The machine description names the hardware, the software and the commit of the run."""
    result, _ = quick_run
    assert result["schema"] == SCHEMA_VERSION
    machine = result["machine"]
    for key in ("cpu_model", "logical_cores", "usable_cores", "python", "torch", "torch_threads", "date"):
        assert machine[key], f"machine description lacks {key}: {machine}"
    assert machine["torch"].startswith("2.")
    assert isinstance(machine["git_dirty"], bool)
    assert set(COMPARABLE_MACHINE) <= machine.keys()


def test_quick_forward_run_times_the_tiny_model_both_ways(quick_run) -> None:
    """One job per checks setting, each with its own peak RSS, samples and throughput; HF skipped with the reason."""
    result, stdout = quick_run
    assert result["settings"]["sections"] == ["forward"]
    assert result["settings"]["quick"] is True
    jobs = {job["name"]: job for job in result["jobs"]}
    assert set(jobs) == {forward_name(TINY, CHECKS_ON), forward_name(TINY, CHECKS_OFF)}
    for job in jobs.values():
        assert job["ok"], job
        assert job["peak_rss_mb"] > 50  # a process that imported torch
        assert len(job["samples"]) == 2
        assert job["unit"] == "tokens/s"
        assert job["throughput"] == pytest.approx(TINY.tokens / job["seconds"])
    assert list(jobs[forward_name(TINY, CHECKS_ON)]["paired"]) == [pair_name(CHECKS_ON, CHECKS_OFF)]
    assert len(jobs[forward_name(TINY, CHECKS_ON)]["paired"][pair_name(CHECKS_ON, CHECKS_OFF)]) == 2
    assert [r["name"] for r in result["ratios"]] == [overhead_name(TINY)]
    assert result["verdicts"] == []  # the check target is set at GPT-2-small, not measured here
    assert result["skipped"] == [{"what": "forward: HF Llama", "reason": "--no-hf"}]
    assert f"{forward_name(TINY, CHECKS_ON)}/throughput" in {k.removeprefix("forward/") for k in result["metrics"]}
    assert "Benchmarks (quick)" in stdout
    assert "[1/2] forward" in stdout  # progress: each step announced


def test_compare_a_run_with_itself_shows_no_change(quick_run) -> None:
    result, _ = quick_run
    console = Console(record=True, width=200)
    render_comparison(result, result, console)
    text = console.export_text()
    assert "machines differ" not in text
    assert "1.000" in text
    assert "better" not in text
    assert "worse" not in text


# ----- running a job ----------------------------------------------------------------------------


def test_the_bench_process_never_imports_torch() -> None:
    """Only the workers hold torch: a child's peak RSS starts from its parent's, so a parent holding it inflates all."""
    check = "import sys, tools.bench.cli; assert 'torch' not in sys.modules, 'the bench process imported torch'"
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_run_job_reports_the_peak_rss_of_a_grandchild() -> None:
    """A job's peak RSS includes the processes it starts (the grader's pytest child and sandbox workers)."""
    grandchild = "data = b'x' * (200 * 2**20)"  # 200 MiB, written, hence resident
    script = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True)"
    finished = run_job([sys.executable, "-c", script])
    assert finished.exit_code == 0, finished.stderr
    assert finished.peak_rss_mb > 200


def test_interpret_reads_the_worker_line_among_other_output() -> None:
    payload = {"samples": [0.3, 0.1, 0.2], "calls_per_sample": 4, "paired": {}, "threads": 2}
    stdout = f"a library's chatter\n{RESULT_PREFIX}{json.dumps(payload | {'peak_device_bytes': 2**30})}\n"
    step = Step("forward", forward_name(TINY, HF_EAGER), (), kind="forward", tokens=64)
    job = interpret(step, Finished(0, 5.0, 300.0, stdout, ""))
    assert job.ok
    assert job.seconds == 0.2  # the median
    assert job.throughput == pytest.approx(320.0)
    assert job.peak_device_mb == 1024
    assert job.wall_seconds == 5.0


def test_interpret_names_a_failed_job_by_its_summary_line() -> None:
    """pytest's summary is on stdout (stderr may hold warnings); a worker's traceback ends on stderr."""
    suite = interpret(Step("suites", "golden", ()), Finished(1, 2.0, 10.0, "F.\n1 failed, 1 passed\n", "a warning\n"))
    assert not suite.ok
    assert suite.seconds is None
    assert suite.detail == "exit 1: 1 failed, 1 passed"
    worker = Step("forward", "x", (), kind="forward", tokens=1)
    failed = interpret(worker, Finished(1, 2.0, 10.0, "", "Traceback ...\nValueError: broken\n"))
    assert failed.detail == "exit 1: ValueError: broken"


def test_batch_jobs_report_submissions_per_minute() -> None:
    step = Step("grading", batch_name(4, 2), (), kind="batch", submissions=4)
    job = interpret(step, Finished(0, 120.0, 10.0, "", ""))
    assert job.throughput == pytest.approx(2.0)
    assert job.unit == "submissions/min"


# ----- ratios and verdicts ----------------------------------------------------------------------


def test_ratios_are_against_the_baselines_of_the_same_run() -> None:
    """Forward ratios: medians of the alternated blocks' ratios, not of separate jobs; workers: throughputs."""
    jobs = [
        _job(batch_name(2, 1), 240.0, "grading", throughput=0.5, unit="submissions/min"),
        _job(batch_name(2, 2), 160.0, "grading", throughput=0.75, unit="submissions/min"),
        *_forward_jobs(GPT2, overhead=[1.02, 1.05, 1.03], on_vs_hf=[0.9, 0.88, 0.7], off_vs_hf=[0.8, 0.85, 0.81]),
    ]
    ratios = {r.name: r for r in compute_ratios(jobs, SETTINGS)}
    assert ratios["grading: 2 workers vs 1, submissions/min"].value == pytest.approx(1.5)
    overhead = ratios[overhead_name(GPT2)]
    assert overhead.value == pytest.approx(1.03)  # the separate jobs' 0.9 s / 0.1 s plays no part
    assert overhead.shown() == "+3.0%"
    assert ratios[versus_hf_name(GPT2, CHECKS_ON)].value == pytest.approx(0.88)
    assert ratios[versus_hf_name(GPT2, CHECKS_OFF)].value == pytest.approx(0.81)
    assert ratios[versus_hf_name(GPT2, CHECKS_ON)].shown() == "0.88×"


def test_failed_jobs_give_no_ratio() -> None:
    jobs = _forward_jobs(GPT2, overhead=[1.1], on_vs_hf=[1.0], off_vs_hf=[1.0])
    jobs[2].ok = False  # the parity check
    names = [r.name for r in compute_ratios(jobs, SETTINGS)]
    assert names == [overhead_name(GPT2)]


@pytest.mark.parametrize(("overhead", "passed"), [(1.035, True), (1.10, True), (1.11, False), (0.97, True)])
def test_checks_verdict_allows_ten_percent(overhead: float, passed: bool) -> None:
    assert checks_verdict("gpt2-small 1×128", overhead).passed is passed


@pytest.mark.parametrize(("time_ratio", "passed"), [(0.9, True), (1.25, True), (1.26, False)])
def test_hf_verdict_allows_a_quarter_slower(time_ratio: float, passed: bool) -> None:
    verdict = hf_verdict("gpt2-small 1×128", time_ratio)
    assert verdict.passed is passed
    assert verdict.measured == f"{time_ratio:.2f}×"


def test_checks_target_is_judged_at_gpt2_small_and_hf_target_everywhere() -> None:
    jobs = [
        *_forward_jobs(TINY, overhead=[1.2], on_vs_hf=[1.5], off_vs_hf=[1.2]),
        *_forward_jobs(GPT2, overhead=[1.04], on_vs_hf=[1.1], off_vs_hf=[1.05]),
    ]
    verdicts = evaluate_targets(compute_ratios(jobs, SETTINGS))
    # No check verdict at the tiny model: its 20 % is outside the target.
    assert [(v.target, v.passed) for v in verdicts] == [
        (f"reference forward ≤ 1.25× HF eager Llama at {TINY.label}", False),
        (f"shape checks cost ≤ 10% at {GPT2.label}", True),
        (f"reference forward ≤ 1.25× HF eager Llama at {GPT2.label}", True),
    ]


def test_one_result_gives_the_json_and_its_metrics() -> None:
    jobs = _forward_jobs(GPT2, overhead=[1.04], on_vs_hf=[1.1], off_vs_hf=[1.05])
    result = BenchResult(_machine(), SETTINGS, jobs)
    data = json.loads(json.dumps(result.as_dict()))
    assert [v["passed"] for v in data["verdicts"]] == [True, True]
    metrics = data["metrics"]
    assert metrics[f"forward/{forward_name(GPT2, CHECKS_ON)}/seconds"] == {
        "value": 0.9,
        "unit": "s",
        "higher_is_better": False,
    }
    assert metrics[f"ratio/{overhead_name(GPT2)}"]["value"] == pytest.approx(1.04)
    assert {r["name"] for r in data["ratios"]} == {k.removeprefix("ratio/") for k in metrics if k.startswith("ratio/")}


# ----- --compare --------------------------------------------------------------------------------


def test_compare_metrics_knows_which_direction_is_better() -> None:
    old = {
        "t": {"value": 2.0, "unit": "s", "higher_is_better": False},
        "rate": {"value": 100.0, "unit": "tokens/s", "higher_is_better": True},
        "mem": {"value": 100.0, "unit": "MiB", "higher_is_better": False},
        "gone": {"value": 1.0, "unit": "s", "higher_is_better": False},
    }
    new = {
        "t": {"value": 1.0, "unit": "s", "higher_is_better": False},
        "rate": {"value": 50.0, "unit": "tokens/s", "higher_is_better": True},
        "mem": {"value": 103.0, "unit": "MiB", "higher_is_better": False},
        "added": {"value": 1.0, "unit": "s", "higher_is_better": False},
    }
    changes, only_new, only_old = compare_metrics(new, old)
    by_name = {c.metric: c for c in changes}
    assert by_name["t"].ratio == 0.5
    assert by_name["t"].verdict == "better"
    assert by_name["rate"].verdict == "worse"
    assert by_name["mem"].verdict == "same"  # 3 % is within a shared machine's noise
    assert (only_new, only_old) == (["added"], ["gone"])


def test_render_comparison_warns_when_the_machines_differ() -> None:
    metric = {"unit": "s", "higher_is_better": False}
    old = {"machine": _machine(torch="2.12.0"), "metrics": {"forward/x/seconds": metric | {"value": 0.5}}}
    new = {"machine": _machine(torch="2.13.0"), "metrics": {"forward/x/seconds": metric | {"value": 0.25}}}
    console = Console(record=True, width=200)
    render_comparison(new, old, console)
    text = console.export_text()
    assert "machines differ in torch: 2.12.0 → 2.13.0" in text
    assert "0.500" in text
    assert "better" in text


# ----- the plan ---------------------------------------------------------------------------------


def test_grading_steps_batch_copies_of_the_example(tmp_path: Path) -> None:
    steps = grading_steps(tmp_path, copies=3)
    assert [s.name for s in steps] == [
        "example submission",
        "example submission, --isolation none",
        batch_name(3, 1),
        batch_name(3, 2),
    ]
    copies = sorted((tmp_path / "batch").iterdir())
    assert len(copies) == 3
    assert all((copy / "tests" / "adapters.py").is_file() for copy in copies)
    assert not list((tmp_path / "batch").rglob("__pycache__"))
    assert steps[3].argv[-4:] == ("--jobs", "2", "--out", str(tmp_path / "out-jobs2"))
    assert "--batch" in steps[2].argv
    assert steps[1].argv[-4:-2] == ("--isolation", "none")


def test_forward_steps_need_the_parity_check_before_timing_hf(tmp_path: Path) -> None:
    settings = Settings(sections=("forward",), models=("course-test",))
    steps, skipped = forward_steps(settings, tmp_path, hf_available=True)
    assert [s.name for s in steps] == [forward_name(TINY, v) for v in (CHECKS_ON, CHECKS_OFF, HF_PARITY, HF_EAGER)]
    assert steps[3].requires == steps[2].name
    assert skipped == []
    steps, skipped = forward_steps(settings, tmp_path, hf_available=False)
    assert len(steps) == 2
    assert "transformers is not installed" in skipped[0].reason


def test_unknown_section_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--only", "suites,bogus"])
