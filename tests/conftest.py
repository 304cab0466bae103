"""Options and markers of the unit tests."""

from __future__ import annotations

import os

import pytest

# One hostile submission per attack class runs by default (the README's test command, CI: about two minutes);
# ``--zoo all`` grades the whole zoo (about fifteen minutes on two cores). Each is the class's strongest case.
ZOO_REPRESENTATIVES = {
    "amplify": "amplify_stride0_expand",
    "batch": "batch_theft_via_grader_cmdline",
    "bomb": "bomb_fork",
    "crash": "crash_signal_sigrtmin6",
    "defence": "defence_rebind_worker_functions",
    "escape": "escape_fork_exec_daemon_rewrites_report",
    "forge": "forge_records_via_proc_fd",
    "io": "io_torch_from_file_golden",
    "lone": "lone_symlink_to_bundled_correct.py",
    "proc": "proc_parent_mem_read",
    "repo": "repo_symlink_to_grader_root",
    "signal": "signal_kill_grader_pidfd",
    "stall": "stall_past_suite_deadline",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--zoo",
        choices=("classes", "all"),
        default=os.environ.get("ZOO", "classes"),
        help="hostile zoo: one submission per attack class (default) or all of them (env: ZOO)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "zoo: grades a hostile submission of tests/hostile (slow; deselect with -m 'not zoo')"
    )
    config.addinivalue_line(
        "markers",
        "heavy: grades a submission with the full default rubric, about a minute on two cores (deselect with "
        "-m 'not heavy')",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--zoo") == "all":
        return
    chosen = set(ZOO_REPRESENTATIVES.values())
    drop = [
        item
        for item in items
        if item.get_closest_marker("zoo")
        and getattr(item, "callspec", None)
        and item.callspec.params["name"] not in chosen
    ]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item not in drop]
