"""The grader's side of its pytest child: the submission reached through the sandbox, and one record per test.

Loaded with ``-p grader.pytest_plugin`` in the (trusted) pytest child the
grader starts. It answers the harness's ``pytest_harness_adapters`` hook with a
proxy whose calls run in the sandbox, so the suites test a submission they
never import, and writes one JSON line per finished test to the record pipe
whose file descriptor the grader passes in ``GRADER_RECORD_FD``: a channel of
its own, never inherited by the sandbox worker, which only ever sees its two
protocol pipes. The grader reads the lines for progress and results.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from grader.sandbox import ISOLATION_CHOICES, Limits, Sandbox, SandboxedAdapters, SubmissionError, choose_isolation
from grader.staging import Staged
from harness import reproduction
from harness.implementation import ENV_VAR, ImplementationError
from harness.protocol import ADAPTERS, PROBLEMS, SCORED, VALUES, module_problem
from harness.pytest_plugin import declared_adapters

RECORD_FD = "GRADER_RECORD_FD"
ISOLATION_ENV = "GRADER_ISOLATION"
STAGED_ROOT_ENV = "GRADER_STAGED_ROOT"  # set by the grader: --impl is a staged copy under this root, used in place
FAILURES_SECTION = "grader failures"
# Between the failures of one check (a Hypothesis group split into its members): reports cut only here.
MEMBER_SEPARATOR = "\n\n"
HEAD_CHARS = 3000  # the exception's own message: the law, inputs and worst element
MEMBER_CHARS = 12000  # one failure with its notes: the snippet (at most MAX_VALUES literals) and the example
_EXAMPLE = re.compile(r"^(Falsifying example:.*?)(?=^\S|\Z)", re.MULTILINE | re.DOTALL)
_REPRODUCE = re.compile(r"^.*@reproduce_failure\(.*$", re.MULTILINE)


_records = None


def _emit(record: dict) -> None:
    if _records is not None:
        _records.write(json.dumps(record) + "\n")
        _records.flush()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sandbox-call-seconds", type=float, default=60.0, help="wall-clock limit of one call into the submission"
    )
    parser.addoption(
        "--sandbox-check-seconds",
        type=float,
        default=120.0,
        help="wall-clock limit of all the calls of one check into the submission together",
    )
    parser.addoption(
        "--isolation",
        default=os.environ.get(ISOLATION_ENV, "auto"),
        choices=ISOLATION_CHOICES,
        help="the submission's box: namespaces (auto, where the OS allows), uid (weaker, only when asked), or none "
        f"(trusted code only) (env: {ISOLATION_ENV})",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _records
    if hasattr(config, "workerinput"):  # an xdist worker: its reports reach the controller, which emits them once
        return
    descriptor = os.environ.get(RECORD_FD)
    if descriptor is not None:
        _records = os.fdopen(int(descriptor), "w", encoding="utf-8")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _records is not None and not hasattr(config, "workerinput"):
        _records.close()


def pytest_harness_adapters(config: pytest.Config) -> ModuleType | None:
    """The submission named by ``--impl`` (or ``TRANSFORMER_IMPL``), in the sandbox; the reference is imported."""
    submission = config.getoption("--impl") or os.environ.get(ENV_VAR)
    if submission in (None, "reference"):
        return None
    limits = Limits(call_seconds=config.getoption("--sandbox-call-seconds"))
    staged_root = os.environ.get(STAGED_ROOT_ENV)
    target = Staged(Path(staged_root), Path(submission)) if staged_root else submission
    try:
        isolation = choose_isolation(config.getoption("--isolation"))
        sandbox = Sandbox(target, device=config.getoption("--device"), limits=limits, isolation=isolation)
    except (SubmissionError, ImplementationError) as error:
        raise pytest.UsageError(f"the submission cannot be run: {error}") from None
    global _sandbox
    _sandbox = sandbox
    return SandboxedAdapters(sandbox)


_sandbox: Sandbox | None = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if _sandbox is not None:
        _sandbox.begin_check(item.config.getoption("--sandbox-check-seconds"))
    try:
        yield
    finally:
        if _sandbox is not None:
            _sandbox.end_check()


def pytest_harness_vjp(adapters: ModuleType, name: str, arguments: dict, wrt: list, cotangent) -> tuple | None:
    """Differentiate in the box, where the submission's autograd graph lives."""
    if isinstance(adapters, SandboxedAdapters):
        return adapters.vjp(name, arguments, wrt, cotangent)
    return None


def pytest_harness_close_adapters(module: ModuleType) -> None:
    if isinstance(module, SandboxedAdapters):
        module.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    _announce_collected([item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    # Under ``-n N`` the controller collects nothing itself; every worker collects the same items,
    # so the first worker's list is the run's.
    if not _collected_announced:
        _announce_collected(list(ids))


_collected_announced = False


def _announce_collected(nodeids: list[str]) -> None:
    """Every check the run owes a verdict: one that never reports is "not verified", never passed."""
    global _collected_announced
    _collected_announced = True
    _emit({"event": "collected", "nodeids": nodeids})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember each test's declared adapters: its report (here or on an xdist worker) carries them. And put one
    problem's modules together, problems in ``PROBLEMS`` order (the cheap ones first): in one process (a one-core
    container) problems are then verified one after another, and the results written while grading runs
    (``grader/autograder.py``) fill in early, instead of every problem waiting for its golden module after all the
    property modules. (Under xdist's ``loadfile`` the scheduler starts the largest modules first whatever the order.)"""
    for item in items:
        item.user_properties.append(("adapters", declared_adapters(item)))
    order = {name: index for index, name in enumerate(PROBLEMS)}
    items.sort(key=lambda item: order.get(module_problem(item.nodeid), len(order)))  # stable: modules stay whole


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed check's failures, one per Hypothesis failure (a group is split into its members), each with its
    message and notes (the reproduction snippet, the falsifying example); and how many values its input held."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None:
        failures = {"members": _members(call.excinfo.value), "values": reproduction.values(reproduction.LOG.calls)}
        report.sections.append((FAILURES_SECTION, json.dumps(failures)))


def _members(error: BaseException) -> list[str]:
    if isinstance(error, BaseExceptionGroup):
        return [member for inner in error.exceptions for member in _members(inner)]
    # Hypothesis's @reproduce_failure hint needs this project's test source: the snippet replaces it for a student.
    notes = [
        "\n".join(line for line in str(note).splitlines() if "@reproduce_failure" not in line)
        for note in getattr(error, "__notes__", ())
    ]
    parts = [f"{type(error).__name__}: {error}"[:HEAD_CHARS]]
    for note in notes:  # whole notes or none: a snippet cut short would not run
        fits = sum(map(len, parts)) + len(note) <= MEMBER_CHARS
        parts.append(note if fits else f"(a note of {len(note)} characters left out)")
    return ["\n".join(parts)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A test reports thrice (setup, call, teardown); the call counts, and setup or teardown only when not passed.
    if report.when == "call" or report.outcome != "passed":
        _emit({"event": "test", **_describe(report)})


def _describe(report: pytest.TestReport) -> dict:
    message, values = "", None
    failures = next((json.loads(text) for name, text in report.sections if name == FAILURES_SECTION), None)
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif failures is not None:
        members = failures["members"]
        message = MEMBER_SEPARATOR.join(
            (f"[failure {number} of {len(members)}] " if len(members) > 1 else "") + text
            for number, text in enumerate(members, 1)
        )
        values = failures["values"]
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
    properties = dict(report.user_properties)
    adapters = tuple(properties.get("adapters", ()))
    return {
        "check": properties.get("check", SCORED),
        "aspect": properties.get("aspect", VALUES),
        "nodeid": report.nodeid,
        "adapters": list(adapters),
        "problem": ADAPTERS[adapters[0]].problem if adapters else None,  # the first declared is the one under test
        "outcome": report.outcome,
        "when": report.when,
        "message": message,
        "values": values,
        "seconds": round(report.duration, 4),
    }
