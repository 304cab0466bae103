"""Upkeep of the snapshot files: none without a test, all together within the size budget."""

from __future__ import annotations

import warnings

import pytest

from golden.snapshot_files import BUDGET_BYTES, SNAPSHOTS, snapshot_files, stale_files


def test_every_snapshot_file_belongs_to_a_golden_test(request, collected_golden):
    """No file under golden/__snapshots__ outlives its test; --snapshot-update deletes the ones that do.

    A plain run fails on them, as syrupy does on unused snapshots (which it misses when pytest is given
    paths and the test id vanished); ``--snapshot-warn-unused`` makes both a warning.
    """
    if any("::" in arg and "[" in arg for arg in request.config.args):
        pytest.skip("single parametrized cases were selected by node id; run whole modules to look for stale files")
    stale = stale_files(collected_golden)
    if stale and request.config.option.update_snapshots:
        for path in stale:
            path.unlink()
        warnings.warn(f"deleted {len(stale)} stale golden snapshot file(s): {[str(p) for p in stale]}", stacklevel=1)
        return
    listing = "\n  ".join(str(path.relative_to(SNAPSHOTS)) for path in stale)
    if stale and request.config.option.warn_unused_snapshots:
        warnings.warn(f"{len(stale)} golden snapshot file(s) belong to no test:\n  {listing}", stacklevel=1)
    elif stale:
        pytest.fail(
            f"{len(stale)} snapshot file(s) under {SNAPSHOTS} belong to no golden test:\n  {listing}\n"
            "delete them with `python -m pytest golden --snapshot-update` (reference, CPU)",
            pytrace=False,
        )


def test_snapshots_fit_the_size_budget():
    """All golden snapshots together stay under 5 MB (logits of a 10000-word vocabulary are large)."""
    sizes = {path: path.stat().st_size for path in snapshot_files()}
    total = sum(sizes.values())
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total <= BUDGET_BYTES, (
        f"golden snapshots take {total / 1e6:.2f} MB, over the {BUDGET_BYTES / 1e6:g} MB budget; largest: "
        + ", ".join(f"{path.relative_to(SNAPSHOTS)} ({sizes[path] / 1e3:.0f} kB)" for path in largest)
    )
