"""``--compare OLD.json``: this run's metrics against an earlier run's, and a warning where the machines differ."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from tools.bench.table import format_value

# Below this relative change two numbers count as the same: a shared machine's run-to-run noise.
COMPARE_NOISE = 0.05

# Machine fields that make timings incomparable when they differ (the date and the load always differ).
COMPARABLE_MACHINE = ("cpu_model", "logical_cores", "usable_cores", "torch", "torch_threads", "cuda_device", "python")


@dataclass(frozen=True)
class Change:
    metric: str
    old: float
    new: float
    unit: str
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        return self.new / self.old if self.old else math.inf

    @property
    def verdict(self) -> str:
        """``same`` within ``COMPARE_NOISE``, else ``better`` or ``worse`` by the metric's direction."""
        if abs(self.ratio - 1) <= COMPARE_NOISE:
            return "same"
        return "better" if (self.ratio > 1) == self.higher_is_better else "worse"


def compare_metrics(
    new: Mapping[str, Mapping[str, Any]], old: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Change], list[str], list[str]]:
    """The metrics both runs have, as changes new/old; then the names only the new and only the old run have."""
    changes = [
        Change(name, old[name]["value"], metric["value"], metric["unit"], metric["higher_is_better"])
        for name, metric in new.items()
        if name in old
    ]
    return changes, sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())


def render_comparison(new: Mapping[str, Any], old: Mapping[str, Any], console: Console) -> None:
    """Per metric: old, new, new/old and whether that is better; warns first where the machines differ."""
    for key in COMPARABLE_MACHINE:
        if new["machine"].get(key) != old["machine"].get(key):
            console.print(
                f"[yellow]machines differ[/yellow] in {key}: {old['machine'].get(key)} → {new['machine'].get(key)}"
            )
    changes, only_new, only_old = compare_metrics(new["metrics"], old["metrics"])
    table = Table(
        title=f"This run against {old['machine'].get('date')} (commit {(old['machine'].get('git_commit') or '?')[:10]})"
    )
    for column in ("metric", "old", "new", "new/old", ""):
        table.add_column(column, justify="left" if column in ("metric", "") else "right")
    colours = {"better": "green", "worse": "red", "same": "dim"}
    for change in changes:
        table.add_row(
            change.metric,
            format_value(change.old, change.unit),
            format_value(change.new, change.unit),
            f"{change.ratio:.3f}",
            f"[{colours[change.verdict]}]{change.verdict}[/{colours[change.verdict]}]",
        )
    console.print(table)
    for name in only_new:
        console.print(f"only in this run: {name}")
    for name in only_old:
        console.print(f"only in the old run: {name}")
