"""The hostile zoo: every submission in ``tests/hostile`` is graded, and the grader must hold against each.

A submission is a course-layout folder (``<name>/tests/adapters.py``) or a lone adapters file
(``<name>.py``); folders starting with ``_`` are helpers (``_victim``, the honest neighbour of the
batch attacks). Each adapters file declares, as literals read here with ``ast`` (never by importing
it), what it may honestly earn and what the test must build:

- ``HONEST = {"linear": 1}``: the points of the problems it implements honestly; every other problem
  of ``tests/hostile/rubric.toml`` must score 0.
- ``BATCH = True``: graded with ``--batch`` next to a copy of ``_victim``, whose score and files
  must come out untouched.
- ``BUILD = {...}``: what git cannot carry, made in the copy at run time: ``symlinks`` (path ->
  target, ``{grader_root}`` expanded), ``fifos``, ``deep`` (path, depth), ``many_files`` (path,
  count), ``huge_files`` (path -> bytes, sparse), ``replace_with_symlink`` / ``replace_with_fifo``
  (a lone file becomes a symlink to the target or a FIFO).
- ``SUITE_PROBLEM_OK = True``: a suite problem (a deadline hit) is the documented outcome.
- ``UNLOADABLE = True``: the documented outcome is an "ungradable" report.

Some attacks are probes: where making real use of a leak would take long, the submission computes
the honest answer only when the leak worked, so a score on an attacked problem means the boundary
leaked (the docstring says so).

The grader held when (everything is checked and every breach listed, not just the first):
it exits 0 within its deadline with a complete report (grade.json parses, every rubric problem in
it); attacked problems score 0 and honest ones their points; no suite problem unless declared; no
file ``/tmp/zoo-marker-<name>*``; no process of the grading alive after it exited (the supervisor,
``tests/zoo_supervisor.py``, is their subreaper and also finds processes that carry the case's
folder in their environment); no ``SIGWINCH`` reached the supervisor (the zoo's harmless stand-in
for ``kill(-1, ...)``); the reports did not change in the seconds after the grader exited; the
grader's checkout (``git status`` and the files of every part of the checkout) did
not change.

Cases run one after another by default: an attack that scans /proc or signals every process could
hit a neighbouring case's grading under ``-n``. ``ZOO_SUMMARY=path`` appends one JSON line per case
(breaches, seconds) for a table.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The grader's command line; the lead switches it when the grader becomes a package (``-m grader``).
GRADER = [sys.executable, "-m", "grader"]

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(__file__).with_name("hostile")
RUBRIC = ZOO / "rubric.toml"
VICTIM = ZOO / "_victim"
SUPERVISOR = Path(__file__).with_name("zoo_supervisor.py")
MARKER_PREFIX = "/tmp/zoo-marker-"
WATCHED = ("golden", "reference", "harness", "properties", "catalog", "grader", "tools")
GRACE_SECONDS = 2.0
_RUBRIC = tomllib.loads(RUBRIC.read_text())
PROBLEMS = {name: spec["points"] for name, spec in _RUBRIC["problems"].items()}
# Startup of the grader and its workers, the suites, the diagnosis calls, the reports; past this the grader hung.
HARD_LIMIT_SECONDS = _RUBRIC["settings"]["suite_seconds"] + 60
DECLARATIONS = {"HONEST", "BATCH", "BUILD", "SUITE_PROBLEM_OK", "UNLOADABLE"}


def _cases() -> list[str]:
    names = []
    for entry in sorted(ZOO.iterdir()):
        if entry.name.startswith(("_", ".")) or entry.name == "conftest.py":
            continue
        if (entry.is_dir() and (entry / "tests" / "adapters.py").is_file()) or entry.suffix == ".py":
            names.append(entry.name)
    return names


@dataclass
class Submission:
    name: str
    source: Path  # the zoo's file or folder
    adapters: Path  # the file holding the declarations
    summary: str
    honest: dict[str, float] = field(default_factory=dict)
    batch: bool = False
    build: dict = field(default_factory=dict)
    suite_problem_ok: bool = False
    unloadable: bool = False

    @classmethod
    def load(cls, name: str) -> Submission:
        source = ZOO / name
        adapters = source if source.suffix == ".py" else source / "tests" / "adapters.py"
        tree = ast.parse(adapters.read_text())
        found = {}
        for node in tree.body:
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if isinstance(target, ast.Name) and target.id in DECLARATIONS:
                found[target.id] = ast.literal_eval(node.value)
        docstring = ast.get_docstring(tree) or ""
        assert docstring, f"{adapters}: every zoo submission starts with a docstring (attack, what the grader must do)"
        honest = found.get("HONEST", {})
        assert set(honest) <= set(PROBLEMS), f"{adapters}: HONEST names problems the zoo's rubric does not have"
        return cls(
            name=source.stem,
            source=source,
            adapters=adapters,
            summary=docstring.splitlines()[0],
            honest=honest,
            batch=found.get("BATCH", False),
            build=found.get("BUILD", {}),
            suite_problem_ok=found.get("SUITE_PROBLEM_OK", False),
            unloadable=found.get("UNLOADABLE", False),
        )


def _expand(text: str) -> str:
    return text.replace("{grader_root}", str(ROOT))


def _build(submission: Submission, copy: Path) -> None:
    """Make in the copy what git cannot carry (or should not: a FIFO, a 600-deep tree, a huge file)."""
    build = submission.build
    for path, target in build.get("symlinks", {}).items():
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).unlink(missing_ok=True)
        os.symlink(_expand(target), copy / path)
    for path in build.get("fifos", []):
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(copy / path)
    if "deep" in build:
        path, depth = build["deep"]
        os.makedirs(copy / path / os.path.join(*["d"] * depth))
    if "many_files" in build:
        path, count = build["many_files"]
        (copy / path).mkdir(parents=True)
        for index in range(count):
            (copy / path / f"f{index}.txt").write_text(str(index))
    for path, size in build.get("huge_files", {}).items():
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        with open(copy / path, "wb") as handle:
            handle.truncate(size)
    if "replace_with_symlink" in build:
        copy.unlink()
        os.symlink(_expand(build["replace_with_symlink"]), copy)
    if build.get("replace_with_fifo"):
        copy.unlink()
        os.mkfifo(copy)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            digest.update(b"-> " + os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def _checkout_state() -> tuple[str, dict[str, str]]:
    return _git_status(), {folder: _tree_digest(ROOT / folder) for folder in WATCHED}


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _markers(name: str) -> list[str]:
    """The case's markers: ``/tmp/zoo-marker-<name>`` and ``/tmp/zoo-marker-<name>-<how>``."""
    return sorted({*glob.glob(f"{MARKER_PREFIX}{name}"), *glob.glob(f"{MARKER_PREFIX}{name}-*")})


def _grader_root_markers(name: str) -> list[str]:
    """The case's markers inside the grader's checkout (attacks write them at its top level)."""
    paths = [line[3:].strip() for line in _git_status().splitlines()]
    return [
        str(ROOT / path) for path in paths if path == f"zoo-marker-{name}" or path.startswith(f"zoo-marker-{name}-")
    ]


def _kill_marked(marker: bytes) -> list[str]:
    """Kill what carries the case's marker (when the supervisor itself was killed and could not)."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker not in handle.read():
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                killed.append(handle.read().replace(b"\0", b" ").decode(errors="replace")[:200])
            os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
    return killed


def _report(path: Path, breaches: list[str], who: str) -> dict | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        breaches.append(f"{who}: no readable report at {path.name} ({type(error).__name__}: {error})")
        return None
    names = [problem.get("name") for problem in report.get("problems", [])]
    if sorted(names) != sorted(PROBLEMS):
        breaches.append(f"{who}: the report has problems {names}, the rubric {list(PROBLEMS)}")
    return report


def _check_points(report: dict, honest: dict[str, float], breaches: list[str], who: str) -> None:
    for problem in report.get("problems", []):
        expected, points = honest.get(problem["name"], 0), problem.get("points")
        if points != expected:
            if expected:
                why = f"the honest problem {problem['name']} scored {points} instead of {expected}"
            else:
                why = f"the attacked problem {problem['name']} scored {points}"
            breaches.append(f"{who}: {why} ({problem.get('status')})")


def _grade(submission: Submission, tmp_path: Path) -> tuple[dict | None, Path, Path, dict[str, str]]:
    """Copy (and build) the submission, grade it under the supervisor; the supervisor's result or None."""
    work, out, scratch_parent = tmp_path / "sub", tmp_path / "out", tmp_path / "tmp"
    for folder in (work, scratch_parent):
        folder.mkdir()
    copy = work / submission.source.name
    if submission.source.is_dir():
        shutil.copytree(submission.source, copy, symlinks=True)
    else:
        shutil.copy2(submission.source, copy)
    victims = {}
    if submission.batch:
        shutil.copytree(VICTIM, work / "victim", symlinks=True)
        victims["victim"] = _tree_digest(work / "victim")
    _build(submission, copy)
    target = work if submission.batch else copy
    command = [*GRADER, str(target), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", "--processes", "1"]
    if submission.batch:
        command += ["--batch", "--jobs", "2"]
    environment = dict(os.environ, TMPDIR=str(scratch_parent), ZOO_SECRET=f"zoo-secret-{uuid.uuid4().hex}")
    spec = {
        "command": command,
        "cwd": str(ROOT),
        "env": environment,
        "timeout": HARD_LIMIT_SECONDS,
        "grace": GRACE_SECONDS,
        "out": str(out),
        "marker": str(tmp_path),
        "log": str(tmp_path / "grader.log"),
        "result": str(tmp_path / "supervisor.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, str(SUPERVISOR), str(tmp_path / "spec.json")],
            cwd=tmp_path,
            start_new_session=True,
            timeout=HARD_LIMIT_SECONDS + GRACE_SECONDS + 60,
            capture_output=True,
        )
    result_path = Path(spec["result"])
    result = json.loads(result_path.read_text()) if result_path.is_file() else None
    return result, work, out, victims


CASES = _cases()


@pytest.mark.zoo
@pytest.mark.parametrize("name", CASES)
def test_the_grader_holds(name: str, tmp_path: Path) -> None:
    submission = Submission.load(name)
    for marker in _markers(submission.name) + _grader_root_markers(submission.name):
        _remove(marker)
    checkout_before = _checkout_state()
    started = time.monotonic()
    breaches: list[str] = []
    try:
        result, work, out, victims = _grade(submission, tmp_path)
        if result is None:
            killed = _kill_marked(str(tmp_path).encode())
            breaches.append(f"the supervisor was killed (an ancestor of the grader); left alive: {killed}")
        else:
            log = (tmp_path / "grader.log").read_text(errors="replace")[-1500:]
            if result["hung"]:
                breaches.append(f"the grader still ran after {HARD_LIMIT_SECONDS} s and was killed")
            elif result["exit"] != 0:
                breaches.append(f"the grader exited with status {result['exit']}: ...{log[-600:]}")
            if result["leftovers"]:
                breaches.append(f"processes alive after the grader exited: {sorted(result['leftovers'].values())}")
            if result["sigwinch"]:
                breaches.append(f"signals reached the supervisor: {result['sigwinch']}")
            if result["reports_changed_late"] and not result["hung"]:
                breaches.append(f"reports changed after the grader exited: {result['reports_changed_late']}")
        if result is not None and not result["hung"]:
            stem = submission.source.stem
            report = _report(out / stem / "grade.json" if submission.batch else out / "grade.json", breaches, stem)
            if report is not None:
                _check_points(report, submission.honest, breaches, stem)
                if report.get("suite_problem") and not submission.suite_problem_ok:
                    breaches.append(f"{stem}: suite problem: {report['suite_problem'].splitlines()[0][:300]}")
                if bool(report.get("unloadable")) != submission.unloadable:
                    breaches.append(f"{stem}: unloadable is {report.get('unloadable')!r}")
            for victim, digest in victims.items():
                victim_report = _report(out / victim / "grade.json", breaches, victim)
                if victim_report is not None:
                    _check_points(victim_report, PROBLEMS, breaches, victim)
                if _tree_digest(work / victim) != digest:
                    breaches.append(f"{victim}: the victim's files were changed")
        for marker in _markers(submission.name):
            breaches.append(f"marker outside the scratch directory: {marker}")
        for marker in _grader_root_markers(submission.name):
            breaches.append(f"marker inside the grader's checkout: {marker}")
        status, digests = _checkout_state()
        # Markers are reported above (and other cases' markers, under -n, are theirs).
        before, after = (
            {line for line in text.splitlines() if "zoo-marker-" not in line} for text in (checkout_before[0], status)
        )
        if before != after:
            breaches.append(f"git status of the grader changed: {sorted(before ^ after)}")
        changed = [folder for folder in WATCHED if digests[folder] != checkout_before[1][folder]]
        if changed:
            breaches.append(f"the grader's files changed in {changed}")
    finally:
        for marker in _markers(submission.name) + _grader_root_markers(submission.name):
            _remove(marker)
        _kill_marked(str(tmp_path).encode())
    summary = os.environ.get("ZOO_SUMMARY")
    if summary:
        with open(summary, "a") as handle:
            line = {"case": name, "attack": submission.summary, "seconds": round(time.monotonic() - started, 1)}
            handle.write(json.dumps({**line, "breaches": breaches}) + "\n")
    assert not breaches, f"{name}: {submission.summary}\n- " + "\n- ".join(breaches)


def test_every_attack_class_has_its_representative_in_the_default_run() -> None:
    """A new class of attack must not be graded only by ``--zoo all``."""
    from tests.conftest import ZOO_REPRESENTATIVES

    classes = {name.split("_", 1)[0] for name in CASES}
    assert classes == set(ZOO_REPRESENTATIVES), classes ^ set(ZOO_REPRESENTATIVES)
    assert all(case in CASES and case.startswith(prefix) for prefix, case in ZOO_REPRESENTATIVES.items())
