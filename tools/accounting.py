"""Parameters, memory and forward FLOPs of a preset: rich tables for people, ``--json`` for machines.

    python -m tools.accounting --preset gpt2-xl --context 1024 [--batch 1] [--json]

Both outputs are read from one ``reference.accounting.Accounting``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from reference.accounting import DTYPE_BYTES, Accounting, ForwardFlops, Parameters, account
from reference.presets import PRESETS

_COUNT_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
_SI_SCALES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = PRESETS[args.preset]
    result = account(config, config.context_length if args.context is None else args.context, args.batch)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        Console().print(*tables(result, args.preset))
    return 0


def tables(result: Accounting, name: str) -> list[Table]:
    parameters = _breakdown(f"Parameters of {name}", "parameters", result.parameters, _COUNT_SCALES, "")
    if result.config.tie_embeddings:
        parameters.caption = "tied: lm_head reuses token_embeddings' weight"
    memory = Table(title="Memory of the parameters", title_justify="left", caption="weights only")
    for column in ("dtype", "bytes each", "memory"):
        memory.add_column(column, justify="left" if column == "dtype" else "right")
    for dtype, size in DTYPE_BYTES.items():
        memory.add_row(dtype, str(size), _human(result.memory_bytes(dtype), _SI_SCALES, "B"))
    flops = _breakdown(
        f"Forward FLOPs, batch {result.batch} × seq {result.seq_len}", "FLOPs", result.flops, _SI_SCALES, "FLOPs"
    )
    return [parameters, memory, flops]


def _breakdown(
    title: str, quantity: str, components: Parameters | ForwardFlops, scales: tuple[tuple[float, str], ...], unit: str
) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("component", quantity, "exact", "share"):
        table.add_column(column, justify="left" if column == "component" else "right")
    for component, count in components.items():
        table.add_row(component, _human(count, scales, unit), f"{count:,}", f"{components.share(component):.1%}")
    table.add_section()
    total = components.total
    table.add_row("total", _human(total, scales, unit), f"{total:,}", "100.0%", style="bold")
    return table


def _human(value: int, scales: tuple[tuple[float, str], ...], unit: str = "") -> str:
    for factor, prefix in scales:
        if value >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value} {unit}".rstrip()


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.accounting",
        description="Parameters per component, their memory per dtype, and forward FLOPs per component (SPEC §3).",
        epilog="presets:\n" + "\n".join(f"  {name}" for name in PRESETS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", required=True, choices=PRESETS, metavar="NAME", help="model shape (listed below)")
    parser.add_argument(
        "--context", type=_positive_int, default=None, help="tokens per sequence (default: the preset's context_length)"
    )
    parser.add_argument("--batch", type=_positive_int, default=1, help="sequences per forward (default: 1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
