"""The command line: ``python -m catalog [--bugs] [--correct] [--runs 20] [--jobs 2] [--kills 3] [--only NAME]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from catalog.runner.discovery import discover
from catalog.runner.flatten import flatten
from catalog.runner.results import Entry
from catalog.runner.settings import BUG_PROFILE, CATALOG, DEFAULT_KILLS, KINDS, Kind
from catalog.runner.table import progress_line, render_table
from catalog.runner.tasks import plan, run_catalog


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m catalog",
        description="Run the property suite against every catalogued bug (each must be killed) and every correct "
        "implementation (each must pass every run). No --bugs/--correct: both.",
    )
    parser.add_argument("--bugs", action="store_true", help="run the bug catalog (bugs/ and findings/)")
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
    parser.add_argument(
        "--flatten",
        metavar="NAME",
        help="print bug (or finding) NAME as one standalone adapters file (a submission the grader can grade) and exit",
    )
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
    if arguments.flatten:
        paths = [arguments.catalog / folder / f"{arguments.flatten}.py" for folder in ("bugs", "findings")]
        path = next((path for path in paths if path.is_file()), None)
        if path is None:
            print(f"no bug {arguments.flatten!r} in {' or '.join(str(p.parent) for p in paths)}", file=sys.stderr)
            return 2
        sys.stdout.write(flatten(path))
        return 0
    wanted = (("bug", arguments.bugs), ("finding", arguments.bugs), ("correct", arguments.correct))
    kinds: list[Kind] = [kind for kind, chosen in wanted if chosen]
    entries = discover(arguments.catalog, kinds or list(KINDS), arguments.only)
    # A CI log is no terminal: rich would wrap the table to 80 columns unless told the width.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=160 if wide else None)
    if not entries:
        console.print(f"[bold red]no catalog entries match[/] (kinds {kinds or list(KINDS)}, only {arguments.only})")
        return 2
    columns = (TextColumn("catalog processes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(
            "processes", total=len(plan(entries, arguments.runs, arguments.seed, jobs=arguments.jobs))
        )

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
