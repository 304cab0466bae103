"""The tables people read: one run's jobs, ratios, verdicts and skips, from its ``BenchResult``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tools.bench.results import BenchResult


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.1f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return format_seconds(value)
    if unit == "×":
        return f"{value:.3f}×"
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def machine_line(machine: Mapping[str, Any]) -> str:
    commit = (machine.get("git_commit") or "no git")[:10] + (" (dirty)" if machine.get("git_dirty") else "")
    device = f" · {machine['cuda_device']}" if machine.get("cuda_device") else ""
    return (
        f"{machine['cpu_model']} · {machine['usable_cores']}/{machine['logical_cores']} cores{device} · "
        f"torch {machine['torch']} ({machine['torch_threads']} threads) · Python {machine['python']} · "
        f"commit {commit} · {machine['date']} · load {machine['load_average_1min']}"
    )


def render(result: BenchResult, console: Console) -> None:
    settings = result.settings
    forward = f"; forward on {settings.device} in {settings.dtype}" if "forward" in settings.sections else ""
    jobs = Table(
        title=f"Benchmarks{' (quick)' if settings.quick else ''}{forward}", caption=machine_line(result.machine)
    )
    show_device = any(job.peak_device_mb is not None for job in result.jobs)
    for column in ("section", "job", "time", "throughput", "peak RSS", *(["peak device"] if show_device else [])):
        jobs.add_column(column, justify="left" if column in ("section", "job") else "right")
    jobs.add_column("notes")
    for job in result.jobs:
        cells = [
            job.section,
            job.name,
            format_seconds(job.seconds) if job.seconds is not None else "–",
            format_value(job.throughput, job.unit) if job.throughput is not None else "",
            f"{job.peak_rss_mb:,.0f} MiB",
        ]
        if show_device:
            cells.append(f"{job.peak_device_mb:,.0f} MiB" if job.peak_device_mb is not None else "")
        cells.append(escape(job.detail) if job.ok else f"[red]FAILED[/red] {escape(job.detail)}")
        jobs.add_row(*cells)
    console.print(jobs)
    if result.ratios:
        ratios = Table(title="Ratios against a baseline measured in this run")
        for column in ("ratio", "value", "baseline"):
            ratios.add_column(column, justify="right" if column == "value" else "left")
        for r in result.ratios:
            ratios.add_row(r.name, r.shown(), r.baseline)
        console.print(ratios)
    for verdict in result.verdicts:
        mark = "[green]PASS[/green]" if verdict.passed else "[red]MISS[/red]"
        console.print(f"{mark}  {verdict.target}: {verdict.measured}")
    for skip in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {skip.what}: {escape(skip.reason)}")
