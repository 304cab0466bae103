"""Present a catalog result for people: the rich table and the progress lines."""

from __future__ import annotations

from catalog.runner.results import CatalogResult, Entry


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
