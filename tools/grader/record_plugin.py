"""A pytest plugin for the grader's suite run: one JSON line per finished test on stdout.

Loaded with ``-p tools.grader.record_plugin`` in the (trusted) pytest child the
grader starts; the grader reads the lines for progress and results.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

PREFIX = "::grader::"
_EXAMPLE = re.compile(r"^(Falsifying example:.*?)(?=^\S|\Z)", re.MULTILINE | re.DOTALL)
_REPRODUCE = re.compile(r"^.*@reproduce_failure\(.*$", re.MULTILINE)


def _emit(record: dict) -> None:
    sys.stdout.write(PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: its reports reach the controller, which emits them once
        config.pluginmanager.unregister(sys.modules[__name__])


def pytest_collection_finish(session: pytest.Session) -> None:
    _announce_collected(len(session.items))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    # Under ``-n N`` the controller collects nothing itself; every worker collects the same items,
    # so the first worker's count is the run's.
    if not _collected_announced:
        _announce_collected(len(ids))


_collected_announced = False


def _announce_collected(count: int) -> None:
    global _collected_announced
    _collected_announced = True
    _emit({"event": "collected", "count": count})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A test reports thrice (setup, call, teardown); the call counts, and setup or teardown only when not passed.
    if report.when == "call" or report.outcome != "passed":
        _emit({"event": "test", **_describe(report)})


def _describe(report: pytest.TestReport) -> dict:
    message = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif report.failed:
        crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", "") or ""
        text = report.longreprtext
        example = _EXAMPLE.search(text)
        reproduce = _REPRODUCE.search(text)
        message = crash[:3000]
        if example:
            message += "\n" + example.group(1).strip()[:1500]
        if reproduce:
            message += "\n" + reproduce.group(0).strip()
    return {
        "nodeid": report.nodeid,
        "outcome": report.outcome,
        "when": report.when,
        "message": message,
        "seconds": round(report.duration, 4),
    }
