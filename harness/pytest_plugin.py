"""The options and fixtures every suite shares: the device, the dtypes, and the implementation under test.

Registered by the root ``conftest.py``. Another plugin chooses how the
implementation is reached through the ``pytest_harness_adapters`` hook
(``harness/hookspecs.py``); without one, ``--impl`` is imported into this
process, which is only for code you trust.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
import torch

from harness import backward, hookspecs, reproduction
from harness.implementation import ENV_VAR, REFERENCE_MODULE, load_adapters
from harness.protocol import ADAPTERS, ASPECTS, FINDING_KINDS, SCORED, VALUES, module_problem

DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16")

# The suites' tensors are tiny: intra-op threads only add overhead, and on two cores an OpenMP team
# makes a float16 CPU matmul take ~20 ms instead of ~4 µs.
torch.set_num_threads(1)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default=os.environ.get("REFERENCE_TEST_DEVICE", "cpu"),
        choices=("cpu", "cuda"),
        help="device the tensors under test live on (env: REFERENCE_TEST_DEVICE); cuda skips without a GPU",
    )
    parser.addoption(
        "--dtypes",
        default=os.environ.get("REFERENCE_TEST_DTYPES", ",".join(DTYPE_NAMES)),
        help="comma-separated float dtypes to run, e.g. float32,bfloat16 (env: REFERENCE_TEST_DTYPES); "
        "tests parametrized over another dtype are deselected",
    )
    parser.addoption(
        "--findings",
        default=os.environ.get("REFERENCE_TEST_FINDINGS", "report"),
        choices=("report", "fail"),
        help="a failed check that SPEC §5 does not score by default (dtypes other than the adapter's scored ones, "
        "marked findings) is reported as a finding (XFAIL, listed at the end) or fails the run "
        "(env: REFERENCE_TEST_FINDINGS)",
    )
    parser.addoption(
        "--impl",
        default=os.environ.get(ENV_VAR),
        help=f"adapters file or course repository root to test instead of the reference (env: {ENV_VAR})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "finding(kind): a check SPEC §5 reports as a finding of this kind rather than scores (the dtype-derived "
        "kinds need no marker)",
    )
    config.addinivalue_line(
        "markers",
        f"aspect(name): what the check verifies, one of {', '.join(ASPECTS)} (none: {VALUES}); reports and rubrics "
        "treat each aspect apart (harness/protocol.py ASPECTS)",
    )
    config.addinivalue_line(
        "markers",
        "adapters(*names): the SPEC §4 adapters a test calls, the one under test first (its problem scores "
        "the check); the grader and the catalog runner read it (harness/protocol.py)",
    )


def declared_adapters(item: pytest.Item) -> tuple[str, ...]:
    """The adapters ``item`` declares with ``@pytest.mark.adapters(...)`` (closest marker wins)."""
    marker = item.get_closest_marker("adapters")
    return tuple(marker.args) if marker else ()


def problem_of(item: pytest.Item) -> str | None:
    """The problem whose points a check counts toward: that of its first declared adapter, the one under test."""
    adapters = declared_adapters(item)
    return ADAPTERS[adapters[0]].problem if adapters else None


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Test ids name dtypes (``[float32]``), not ``[dtype1]``: a report reader must see the dtype that failed."""
    return str(val).removeprefix("torch.") if isinstance(val, torch.dtype) else None


def aspect_of(item: pytest.Item) -> str:
    """What the check verifies (``harness/protocol.py`` ASPECTS): its ``aspect`` marker, else values."""
    marker = item.get_closest_marker("aspect")
    return str(marker.args[0]) if marker else VALUES


def _dtype_of(item: pytest.Item) -> str | None:
    """The name of the float dtype an item is parametrized with, if any."""
    dtype = getattr(item, "callspec", None) and item.callspec.params.get("dtype")
    return str(dtype).removeprefix("torch.") if isinstance(dtype, torch.dtype) else None


def check_kind(item: pytest.Item) -> str:
    """``"scored"``, or the kind of finding the check is: an explicit ``finding`` marker, else the dtype it runs in
    when that is not one its adapter scores (``harness/protocol.py``, SPEC §5)."""
    marker = item.get_closest_marker("finding")
    if marker is not None:
        return str(marker.args[0])
    adapters = declared_adapters(item)
    return ADAPTERS[adapters[0]].kind_of_check(_dtype_of(item)) if adapters else SCORED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With ``--findings report``, a failed finding-kind check shows as XFAIL ("finding: <kind>"), not a failure."""
    outcome = yield
    report = outcome.get_result()
    kind = dict(item.user_properties).get("check", SCORED)
    if kind != SCORED and report.failed and call.when == "call" and item.config.getoption("--findings") == "report":
        report.outcome = "skipped"
        report.wasxfail = f"finding ({kind}): {_first_line(report)}"


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", "") or ""
    return crash.strip().splitlines()[0][:160] if crash.strip() else "failed"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    findings = [r for r in terminalreporter.stats.get("xfailed", []) if str(r.wasxfail).startswith("finding (")]
    if not findings:
        return
    terminalreporter.section(f"{len(findings)} findings: checked, not scored by default (SPEC §5)")
    for report in findings[:50]:
        terminalreporter.line(f"{report.nodeid}: {report.wasxfail}")
    if len(findings) > 50:
        terminalreporter.line(f"... and {len(findings) - 50} more; --findings fail makes them failures")


# Last, after syrupy has seen every collected item: it must count dtype-deselected snapshots as deselected, not
# as unused. (A hook of a pytest plugin must carry its pytest_* name: pytest registers no other.)
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check each item's declared adapters against the protocol and record its kind; deselect unwanted dtypes."""
    wanted = {name.strip() for name in config.getoption("--dtypes").split(",") if name.strip()}
    unknown = wanted - set(DTYPE_NAMES)
    if unknown:
        raise pytest.UsageError(f"--dtypes: unknown {sorted(unknown)}; choose from {', '.join(DTYPE_NAMES)}")
    keep, drop = [], []
    for item in items:
        # A typo in a marker would silently move a check out of its problem.
        undeclared = [name for name in declared_adapters(item) if name not in ADAPTERS]
        if undeclared:
            raise pytest.UsageError(f"{item.nodeid}: adapters marker names {undeclared}, not in harness/protocol.py")
        declared, expected = problem_of(item), module_problem(item.nodeid)
        if declared != expected and declared is not None:
            # The grader knows an unreported check's problem by its module (a grading cut short reports the rest).
            raise pytest.UsageError(
                f"{item.nodeid}: tests problem {declared!r} in a module named for {expected or 'no adapter'} "
                "(harness/protocol.py module_problem): move it to the module of the adapter it tests"
            )
        kind = check_kind(item)
        if kind != SCORED and kind not in FINDING_KINDS:
            raise pytest.UsageError(f"{item.nodeid}: finding kind {kind!r} is not in harness/protocol.py FINDING_KINDS")
        item.user_properties.append(("check", kind))
        aspect = aspect_of(item)
        if aspect not in ASPECTS:
            raise pytest.UsageError(f"{item.nodeid}: aspect {aspect!r} is not in harness/protocol.py ASPECTS")
        item.user_properties.append(("aspect", aspect))
        name = _dtype_of(item)
        (drop if name in DTYPE_NAMES and name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A new test starts a new log of adapter calls (``harness/reproduction.py``)."""
    reproduction.LOG.start(item.nodeid)


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda asked for, but torch.cuda.is_available() is False on this machine")
    return torch.device(name)


@pytest.fixture(scope="session")
def adapters(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The adapters module under test (SPEC §4): the reference's unless --impl names another."""
    config = request.config
    module = config.hook.pytest_harness_adapters(config=config)
    if module is None:
        yield load_adapters(config.getoption("--impl"))
        return
    yield module
    config.hook.pytest_harness_close_adapters(module=module)


@pytest.fixture(scope="session")
def reference_only(adapters: ModuleType) -> None:
    """Skip under ``--impl``: laws of reference-only variants (GQA, RoPE layouts) the adapter protocol cannot reach."""
    if adapters.__name__ != REFERENCE_MODULE:
        pytest.skip("checks a reference-only variant; the SPEC §4 adapter protocol has no entry point for it")


@pytest.fixture(scope="session")
def implementation(adapters: ModuleType, request: pytest.FixtureRequest) -> Callable[[str], Callable]:
    """``implementation("run_softmax")`` returns that adapter; a missing one skips as not implemented.

    The adapter also has ``.vjp(arguments, wrt, cotangent)``: its output and the gradients of the arguments named in
    ``wrt`` (``harness.backward.vjp``), computed in the process the adapters run in, so that a gradient check means
    the same in-process and in the grader's box.
    """
    hook = request.config.hook

    def lookup(name: str) -> Callable:
        function = getattr(adapters, name, None)
        if function is None:
            pytest.skip(f"not implemented: the adapters module has no {name}")

        parameters = ADAPTERS[name].parameters if name in ADAPTERS else ()

        def call(*args, **kwargs):
            reproduction.LOG.record(name, dict(zip(parameters, args, strict=False)) | kwargs)
            try:
                return function(*args, **kwargs)
            except NotImplementedError:
                pytest.skip(f"not implemented: {name} raises NotImplementedError")
            except Exception as error:
                reproduction.attach(error)
                raise

        def vjp(arguments: dict, wrt: list[str], cotangent: torch.Tensor):
            reproduction.LOG.record(name, arguments, tuple(wrt), cotangent)
            try:
                answer = hook.pytest_harness_vjp(
                    adapters=adapters, name=name, arguments=arguments, wrt=list(wrt), cotangent=cotangent
                )
                return answer if answer is not None else backward.vjp(function, arguments, wrt, cotangent)
            except NotImplementedError:
                pytest.skip(f"not implemented: {name} raises NotImplementedError")
            except Exception as error:
                reproduction.attach(error)
                raise

        call.vjp = vjp
        return call

    return lookup
