"""The pytest plugin inside a catalog run: several implementations per process, tests a bug cannot change
deselected, killed bugs spared, seeds repeated."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from catalog.runner.junit import split_parameters
from catalog.runner.settings import (
    _SEED_ARGUMENT,
    IMPL_PREFIX,
    IMPLEMENTATIONS_ENV,
    KILLS_ENV,
    LAST_TESTS,
    NOTES_ENV,
    SEED_PREFIX,
    SEEDS_ENV,
    SPARED,
)
from harness.protocol import SCORED
from harness.pytest_plugin import check_kind, declared_adapters


def _plugin_implementations() -> list[dict[str, Any]]:
    text = os.environ.get(IMPLEMENTATIONS_ENV)
    return json.loads(text) if text else []


_loaded: dict[str, Any] = {}


def pytest_generate_tests(metafunc) -> None:
    """Parametrize ``adapters`` over the catalog entries of this process (ids ``impl.NAME``)."""
    implementations = _plugin_implementations()
    if not implementations or "adapters" not in metafunc.fixturenames:
        return
    from harness.implementation import load_adapters

    modules, ids = [], []
    for implementation in implementations:
        name = implementation["name"]
        if name not in _loaded:
            try:
                _loaded[name] = load_adapters(implementation["path"])
            except Exception as error:  # reported as the entry's ERROR, never as a kill
                _loaded[name] = None
                _write_note(name, f"{type(error).__name__}: {error}")
        if _loaded[name] is not None:
            modules.append(_loaded[name])
            ids.append(IMPL_PREFIX + name)
    # Direct parametrization overrides the root conftest's ``adapters`` fixture with each module.
    metafunc.parametrize("adapters", modules, ids=ids, scope="session")
    seeds = _plugin_seeds()
    if seeds and hasattr(metafunc.function, "hypothesis"):
        # A pseudo-argument the test never receives, as pytest-repeat adds its step number.
        metafunc.fixturenames.append(_SEED_ARGUMENT)
        metafunc.parametrize(_SEED_ARGUMENT, seeds, ids=[f"{SEED_PREFIX}{seed}" for seed in seeds])


def _plugin_seeds() -> list[int]:
    return [int(seed) for seed in os.environ.get(SEEDS_ENV, "").split(",") if seed.strip()]


def _write_note(name: str, text: str) -> None:
    path = os.environ.get(NOTES_ENV)
    if not path:
        return
    notes = json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}
    notes[name] = text
    Path(path).write_text(json.dumps(notes), encoding="utf-8")


def can_observe(declared: tuple[str, ...], overridden: Iterable[str]) -> bool:
    """Whether a test may see an implementation that differs from the reference only in ``overridden``.

    It can unless it declares the adapters it calls (its ``adapters`` marker) and none of them is
    overridden: a test that declares none is kept.
    """
    return not declared or bool(set(declared) & set(overridden))


def _relevant(item, overridden: dict[str, list[str]], correct: set[str]) -> bool:
    """Whether this (test, entry) pair can change the entry's verdict.

    A bug or finding is judged only by tests that reach an adapter it overrides; a correct implementation only
    by scored checks (its findings cost nothing, and shrinking their failures would dominate the run).
    """
    callspec = getattr(item, "callspec", None)
    names = [part for part in (callspec.id.split("-") if callspec else []) if part.startswith(IMPL_PREFIX)]
    if not names:
        return True
    if names[0] in correct:
        return check_kind(item) == SCORED
    return names[0] not in overridden or can_observe(declared_adapters(item), overridden[names[0]])


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect (test, entry) pairs that cannot change the entry's verdict (``_relevant``); run the
    differential module last."""
    implementations = _plugin_implementations()
    if not implementations:
        return
    overridden = {
        IMPL_PREFIX + implementation["name"]: implementation["adapters"]
        for implementation in implementations
        if implementation.get("adapters")
    }
    correct = {IMPL_PREFIX + name for name, kind in _kinds().items() if kind == "correct"}
    keep, drop = [], []
    for item in items:
        (keep if _relevant(item, overridden, correct) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    # Named laws before the catch-all differential tests: with --kills they are the killers listed.
    # Also with --full, where nothing is deselected (no ``adapters`` lists) but bugs are still spared.
    items.sort(key=lambda item: getattr(item, "originalname", item.name).startswith(LAST_TESTS))


_killed_by: dict[str, set[str]] = {}


def pytest_runtest_setup(item) -> None:
    """Give a repeated Hypothesis test its seed; spare a bug already killed ``CATALOG_KILLS`` times.

    A finding is never spared: that no scored check fails it is only known once every one has run.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _SEED_ARGUMENT in callspec.params:
        import hypothesis

        hypothesis.seed(callspec.params[_SEED_ARGUMENT])(item.obj)  # read when the test runs, as @seed's is
    limit = int(os.environ.get(KILLS_ENV) or 0)
    name = split_parameters(item.name)[1]
    spare = limit and name is not None and _kinds().get(name, "bug") == "bug"
    if spare and len(_killed_by.get(name, ())) >= limit:
        import pytest

        pytest.skip(f"{SPARED} {limit} properties")


def pytest_runtest_logreport(report) -> None:
    """Count a kill toward sparing: for a bug a scored check, for a finding a finding check (its kind's kill)."""
    if report.when != "call" or not report.failed:
        return
    module, _, name = report.nodeid.rpartition("::")
    test, implementation, _ = split_parameters(name)
    if implementation is None:
        return
    scored = dict(report.user_properties).get("check", SCORED) == SCORED
    if scored == (_kinds().get(implementation, "bug") != "finding"):
        _killed_by.setdefault(implementation, set()).add(f"{module}::{test.split('[', 1)[0]}")


@functools.cache  # read once per process: it is consulted for every test's setup and report
def _kinds() -> dict[str, str]:
    return {entry["name"]: entry.get("kind", "bug") for entry in _plugin_implementations()}
