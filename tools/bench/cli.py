"""The command line: flags, the run from plan to result, and its table, JSON and comparison."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

import tools.bench
from tools.bench import ROOT
from tools.bench.cases import FORWARD_CASES
from tools.bench.compare import render_comparison
from tools.bench.jobs import RESULT_PREFIX, run_job
from tools.bench.machine import describe_machine, probe_torch
from tools.bench.plan import Settings, Skip, Step, plan
from tools.bench.results import BenchResult, JobResult, interpret
from tools.bench.table import render

# This process never imports torch. On Linux a child's ru_maxrss starts from its parent's RSS at
# exec (the kernel carries the pre-exec peak over), so a parent holding torch would inflate every
# job's peak memory by a few hundred MB. Torch is imported only in the worker modes (``worker``),
# which ``main`` imports only when started as one.

DEFAULT_JSON = ROOT / "reports" / "bench-results.json"  # reports/ is ignored by git
SECTIONS = ("suites", "grading", "forward")


def _worker_env() -> dict[str, str]:
    # A benchmark must not download anything, and HF's progress bars would only fill the captured output.
    return os.environ | {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


def run_steps(steps: Sequence[Step], console: Console) -> tuple[list[JobResult], list[Skip]]:
    """Run the steps in order, printing each as it starts and ends."""
    jobs: list[JobResult] = []
    skipped: list[Skip] = []
    succeeded: set[str] = set()
    for index, step in enumerate(steps, 1):
        where = f"[{index}/{len(steps)}] {step.section}: {step.name}"
        if step.requires and step.requires not in succeeded:
            skipped.append(Skip(f"{step.section}: {step.name}", f"{step.requires} did not succeed"))
            console.print(f"{where} [yellow]skipped[/yellow] ({step.requires} did not succeed)")
            continue
        console.print(f"{where} …")
        finished = run_job(step.argv, env=_worker_env())
        job = interpret(step, finished)
        jobs.append(job)
        if job.ok:
            succeeded.add(step.name)
        status = "[green]done[/green]" if job.ok else f"[red]failed[/red] ({escape(job.detail)})"
        console.print(
            f"{' ' * len(str(index))}  {status} in {finished.seconds:.1f} s, peak RSS {job.peak_rss_mb:.0f} MiB"
        )
    return jobs, skipped


def measure(settings: Settings, console: Console) -> BenchResult:
    """Describe the machine, run every step of the chosen sections, and collect the result."""
    torch_info = probe_torch(settings.threads)
    if settings.device == "cuda" and torch_info["cuda_device"] is None and "forward" in settings.sections:
        raise SystemExit("--device cuda: torch sees no CUDA device on this machine")
    machine = describe_machine(torch_info)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        steps, skipped = plan(settings, Path(scratch))
        for skip in skipped:
            console.print(f"[yellow]skipping[/yellow] {skip.what}: {escape(skip.reason)}")
        jobs, not_run = run_steps(steps, console)
    return BenchResult(machine, settings, jobs, skipped + not_run)


def _names(allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}, comma-separated; got {text!r}")
        return names

    return parse


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    description = tools.bench.__doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=description)
    parser.add_argument("--only", type=_names(SECTIONS), default=SECTIONS, help="sections: suites,grading,forward")
    parser.add_argument(
        "--models", type=_names(tuple(FORWARD_CASES)), default=tuple(FORWARD_CASES), help="forward shapes to time"
    )
    parser.add_argument("--quick", action="store_true", help="fewer warm-up calls and repeats")
    parser.add_argument("--no-hf", action="store_true", help="time only the reference, not HF Llama")
    parser.add_argument("--repeats", type=_positive_int, help="timed samples per forward (default 10, quick 3)")
    parser.add_argument("--warmup", type=_positive_int, help="warm-up calls per forward (default 3, quick 1)")
    parser.add_argument("--batch-copies", type=_positive_int, default=2, help="submissions in the batch (default 2)")
    parser.add_argument("--threads", type=_positive_int, help="torch threads in forward workers (default torch's)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device of the forward section")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16", "float64"), default="float32", help="forward dtype"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"result file (default {DEFAULT_JSON})")
    parser.add_argument("--compare", type=Path, metavar="OLD.json", help="print new/old per metric against OLD.json")
    # Worker modes: the bench starts itself in a fresh process per forward, so each has its own peak memory.
    parser.add_argument("--_forward", help=argparse.SUPPRESS)
    parser.add_argument("--_probe", action="store_true", help=argparse.SUPPRESS)
    return parser


def settings_from(options: argparse.Namespace) -> Settings:
    return Settings(
        sections=options.only,
        models=options.models,
        device=options.device,
        dtype=options.dtype,
        warmup=options.warmup or (1 if options.quick else 3),
        repeats=options.repeats or (3 if options.quick else 10),
        batch_copies=options.batch_copies,
        threads=options.threads,
        quick=options.quick,
        hf=not options.no_hf,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    if options._forward or options._probe:
        from tools.bench import worker  # only here: a worker may hold torch, the parent may not (see above)

        if options._forward:
            payload = worker.forward_worker(json.loads(options._forward))
        else:
            payload = worker.probe_worker(options.threads)
        print(RESULT_PREFIX + json.dumps(payload))
        return 0
    old = None
    if options.compare:
        try:  # read it before the long run, not after
            old = json.loads(options.compare.read_text())
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--compare: cannot read {options.compare}: {error}")
    console = Console()
    if not console.is_terminal:  # logs and CI captures: rich's 80-column default would wrap every row
        console.width = max(console.width, 120)
    result = measure(settings_from(options), console)
    render(result, console)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result.as_dict(), indent=2))
    console.print(f"results: {options.json}")
    if old is not None:
        render_comparison(result.as_dict(), old, console)
    failed = [job.name for job in result.jobs if not job.ok]
    if failed:
        console.print(f"[red]{len(failed)} job(s) failed[/red]: {', '.join(failed)}")
    return 1 if failed else 0
