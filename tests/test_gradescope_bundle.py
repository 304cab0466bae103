"""The Gradescope bundle, proven end to end: built, installed (as a dry run), and run on a fake ``/autograder``.

``run_autograder`` and ``setup.sh`` take the root from ``AUTOGRADER_ROOT``; a fake root here is the unzipped
bundle in ``source/``, a ``submission/`` laid out as a student's upload, and ``venv`` pointing at the environment
running these tests (``setup.sh`` would create it; its install step is checked on its own, by pip's resolver).
Every ``results.json`` is validated against ``grader/gradescope/results.schema.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from grader.autograder import ACCEPTED, NoSubmission, find_submission, write_results
from grader.bundle import build_gradescope
from grader.cli import main
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from grader.scoring import not_yet_verified
from tests import seccomp_no_namespaces

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "grader" / "gradescope" / "results.schema.json").read_text())
ZOO_RUBRIC = ROOT / "tests" / "hostile" / "rubric.toml"
BUNDLE_RUBRIC = ROOT / "tests" / "bundle_rubric.toml"
HOSTILE = ROOT / "tests" / "hostile" / "escape_daemon_rewrites_gradescope_results"
CORRECT = ROOT / "catalog" / "correct" / "handout_literal_adapters.py"
BUG = "rope_half_split_pairs"
BUNDLE_TOTAL = load_rubric(BUNDLE_RUBRIC).total_points


def _valid_results(path: Path) -> dict:
    """Gradescope's schema, plus what this grader promises on top: one test per problem, each fully described."""
    results = json.loads(path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(results)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "visibility", "output"} <= set(test), test
        assert test["output"].strip(), f"{test['name']}: an empty explanation"
    assert results["score"] == sum(test["score"] for test in results["tests"])
    return results


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    return {
        "default": build_gradescope(DEFAULT_RUBRIC, folder / "autograder.zip"),
        "zoo": build_gradescope(ZOO_RUBRIC, folder / "zoo-autograder.zip"),
        "small": build_gradescope(BUNDLE_RUBRIC, folder / "small-autograder.zip"),
    }


@pytest.fixture
def autograder_root(tmp_path: Path) -> Iterator[Path]:
    """An empty fake ``/autograder``: traversable by other users as the real one is, so the ``uid`` box meets
    the permissions it would meet there (pytest's own tmp_path sits behind a 0700 folder)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    root.chmod(0o755)
    (root / "submission").mkdir()
    (root / "venv").symlink_to(sys.prefix)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _unpack(bundle: Path, root: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for entry in archive.infolist():  # zipfile drops the modes; Gradescope's unzip keeps them
            (root / "source" / entry.filename).chmod(entry.external_attr >> 16 & 0o777)


def _run_autograder(root: Path, *, under_docker_seccomp: bool = False, watch: bool = False) -> tuple[str, list]:
    """Run the bundle's ``run_autograder``; (its output, every results.json read while it ran when ``watch``)."""
    command = [str(root / "source" / "run_autograder")]
    if under_docker_seccomp:
        # The filter is inherited across exec, as a container's profile is by everything started in it.
        install = "from tests.seccomp_no_namespaces import install\ninstall()\nimport os, sys\n"
        install += "os.execv(sys.argv[1], sys.argv[1:])"
        command = [sys.executable, "-c", install, *command]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(os.environ, AUTOGRADER_ROOT=str(root)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    results = root / "results" / "results.json"
    while watch and process.poll() is None:
        if results.exists():
            seen.append(_valid_results(results))
        time.sleep(0.5)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return output, seen


def test_the_bundle_holds_the_scripts_at_the_top_the_rubric_and_the_whole_grader(bundles, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundles["default"]) as archive:
        entries = {entry.filename: entry for entry in archive.infolist()}
        assert archive.read("rubric.toml") == DEFAULT_RUBRIC.read_bytes()
    for script in ("setup.sh", "run_autograder"):
        assert entries[script].external_attr >> 16 & stat.S_IXUSR, f"{script} is not executable"
    tracked = subprocess.run(
        ["git", "ls-files", "reference", "harness", "properties", "golden", "catalog", "grader", "tools"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    missing = [path for path in tracked if f"transformer-lm-verify/{path}" not in entries]
    assert not missing, f"files grading reads are not in the bundle: {missing[:10]}"
    assert not [name for name in entries if "__pycache__" in name or name.endswith(".pyc")]
    again = build_gradescope(DEFAULT_RUBRIC, tmp_path / "again.zip")
    assert again.read_bytes() == bundles["default"].read_bytes(), "two builds of the same inputs differ"


def test_the_command_line_builds_it_and_refuses_a_broken_rubric(tmp_path: Path, capsys) -> None:
    assert main(["bundle", "gradescope", "--rubric", str(ZOO_RUBRIC), "--out", str(tmp_path / "a.zip")]) == 0
    assert zipfile.is_zipfile(tmp_path / "a.zip")
    broken = tmp_path / "broken.toml"
    broken.write_text("[problems.linear]\npoints = 'one'\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["bundle", "gradescope", "--rubric", str(broken), "--out", str(tmp_path / "b.zip")])
    assert exit_info.value.code == 2 and not (tmp_path / "b.zip").exists()
    assert "points" in capsys.readouterr().err


def test_setup_installs_the_pinned_cpu_torch_and_the_grade_extra_and_nothing_else(bundles, autograder_root) -> None:
    """setup.sh's own commands, resolved by pip without installing (``PIP_DRY_RUN``) and without the network (an
    empty local index stands for the CPU wheel index; pip's configured local sources answer): what it would
    install is the project's dependencies and its ``grade`` extra, torch at constraints.txt's pin, and no tool
    grading does not need."""
    root = autograder_root
    _unpack(bundles["default"], root)
    (root / "venv").unlink()
    report = root / "pip-report.json"
    (root / "no-index").mkdir()
    environment = dict(
        os.environ, AUTOGRADER_ROOT=str(root), PIP_DRY_RUN="1", PIP_REPORT=str(report),
        TORCH_INDEX_URL=(root / "no-index").as_uri(),
    )  # fmt: skip
    setup = subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], env=environment, capture_output=True, text=True, timeout=600
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    installed = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert installed["torch"].split("+")[0] == pins["torch"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = [*project["dependencies"], *project["optional-dependencies"]["grade"]]
    for requirement in needed:
        name = requirement.split(">")[0].split("=")[0].split("<")[0].strip().lower()
        assert name in installed, f"setup.sh does not install {name}"
    unneeded = {"ruff", "nox", "jsonschema", "transformers", "safetensors"}
    assert not unneeded & set(installed), f"setup.sh installs what grading never uses: {unneeded & set(installed)}"


def test_results_written_before_grading_are_valid_and_say_nothing_is_verified(tmp_path: Path) -> None:
    rubric = load_rubric(DEFAULT_RUBRIC)
    path = tmp_path / "results" / "results.json"
    write_results(not_yet_verified(rubric, "submission", "cpu"), path)
    results = _valid_results(path)
    assert results["score"] == 0 and {test["status"] for test in results["tests"]} == {"failed"}
    assert all("Not verified" in test["output"] for test in results["tests"])
    assert "grading did not finish" in results["output"]
    assert [entry.name for entry in path.parent.iterdir()] == ["results.json"], "a temporary file was left behind"


def _zip(folder: Path, archive: Path, inside: str) -> Path:
    with zipfile.ZipFile(archive, "w") as written:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                written.write(path, f"{inside}/{path.relative_to(folder)}")
    return archive


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"adapters.py": ""}, "adapters.py"),
        ({"tests/adapters.py": "", "README.md": ""}, "."),
        ({"my-repo-main/tests/adapters.py": "", "__MACOSX/x": ""}, "my-repo-main"),
        ({"folder/adapters.py": ""}, "folder/adapters.py"),
    ],
)
def test_the_submission_is_found_in_every_layout_students_upload(tmp_path: Path, layout: dict, expected: str) -> None:
    uploaded = tmp_path / "submission"
    for name, text in layout.items():
        (uploaded / name).parent.mkdir(parents=True, exist_ok=True)
        (uploaded / name).write_text(text)
    assert find_submission(uploaded, tmp_path / "scratch") == uploaded / expected


def test_a_zip_of_a_repository_is_unpacked_and_a_hostile_zip_refused(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    (repository / "tests").mkdir(parents=True)
    (repository / "tests" / "adapters.py").write_text("")
    uploaded = tmp_path / "submission"
    uploaded.mkdir()
    _zip(repository, uploaded / "submission.zip", "repo-main")
    assert find_submission(uploaded, tmp_path / "scratch") == tmp_path / "scratch" / "unzipped" / "repo-main"

    for name, member in (("escape", "../outside.py"), ("absolute", "/etc/adapters.py")):
        hostile = tmp_path / name
        hostile.mkdir()
        with zipfile.ZipFile(hostile / "h.zip", "w") as written:
            written.writestr(member, "")
        with pytest.raises(NoSubmission, match="points outside"):
            find_submission(hostile, tmp_path / f"scratch-{name}")
    linked = tmp_path / "linked"
    linked.mkdir()
    with zipfile.ZipFile(linked / "h.zip", "w") as written:
        entry = zipfile.ZipInfo("tests/adapters.py")
        entry.external_attr = (stat.S_IFLNK | 0o777) << 16
        written.writestr(entry, "/work/catalog/correct/einsum_adapters.py")
    with pytest.raises(NoSubmission, match="symbolic link"):
        find_submission(linked, tmp_path / "scratch-linked")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("")
    with pytest.raises(NoSubmission, match=re.escape(ACCEPTED)):
        find_submission(empty, tmp_path / "scratch-empty")


def test_a_correct_bare_adapters_file_gets_every_point_and_results_are_valid_throughout(
    bundles, autograder_root
) -> None:
    root = autograder_root
    _unpack(bundles["small"], root)
    shutil.copy(CORRECT, root / "submission" / "adapters.py")
    output, seen = _run_autograder(root, watch=True)
    results = _valid_results(root / "results" / "results.json")
    assert results["score"] == BUNDLE_TOTAL, output
    assert {test["status"] for test in results["tests"]} == {"passed"}
    assert "Isolation: namespaces" in results["output"]
    assert seen and seen[0]["score"] == 0, "results.json did not exist, valid, while grading ran"


def test_a_buggy_repository_uploaded_as_a_zip_loses_the_problem_and_is_told_the_likely_bug(
    bundles, autograder_root, tmp_path: Path
) -> None:
    root = autograder_root
    _unpack(bundles["small"], root)
    flattened = subprocess.run(
        [sys.executable, "-m", "catalog", "--flatten", BUG], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    repository = tmp_path / "repo"
    (repository / "tests").mkdir(parents=True)
    (repository / "tests" / "adapters.py").write_text(flattened)
    _zip(repository, root / "submission" / "submission.zip", "assignment1-main")
    output, _ = _run_autograder(root)
    results = _valid_results(root / "results" / "results.json")
    by_name = {test["name"]: test for test in results["tests"]}
    rope = by_name["RoPE"]
    assert (rope["status"], rope["score"]) == ("failed", 0), output
    assert "Likely bug: run_rope: Rotated the pairs (k, k + d_k/2)" in rope["output"]
    assert "pytest" in rope["output"] or "reproduce" in rope["output"] or "::" in rope["output"]
    assert by_name["Linear"]["status"] == "passed" and 0 < results["score"] < BUNDLE_TOTAL


def test_a_hostile_submission_under_docker_seccomp_is_boxed_by_uid_and_cannot_forge_results(
    bundles, autograder_root
) -> None:
    """Gradescope's containers (simulated: namespaces refused) get the ``uid`` box, named in the results; the
    submission's writes to results.json, during grading and from a daemon after it, change nothing."""
    if not seccomp_no_namespaces.supported():
        pytest.skip("the simulated seccomp profile knows x86_64 and aarch64 only")
    root = autograder_root
    _unpack(bundles["zoo"], root)
    shutil.copytree(HOSTILE, root / "submission", dirs_exist_ok=True)
    markers = [Path(f"/tmp/zoo-marker-{HOSTILE.name}"), Path(f"/tmp/zoo-marker-{HOSTILE.name}-late")]
    for marker in markers:
        marker.unlink(missing_ok=True)
    output, _ = _run_autograder(root, under_docker_seccomp=True)
    final = (root / "results" / "results.json").read_bytes()
    time.sleep(3)  # the daemon writes as soon as the grader has exited
    assert (root / "results" / "results.json").read_bytes() == final, "results.json changed after grading"
    results = _valid_results(root / "results" / "results.json")
    assert "Isolation: uid" in results["output"], output
    scores = {test["name"]: test["score"] for test in results["tests"]}
    assert scores == {"Linear": 1, "RMSNorm": 1, "Softmax": 0}, output
    assert not [marker for marker in markers if marker.exists()], "the submission wrote its forgery somewhere"


def test_grading_stopped_midway_leaves_valid_results_with_what_was_verified(bundles, autograder_root) -> None:
    """A platform timeout (here: the autograder killed as soon as Linear's checks are all in) leaves results.json
    valid, with Linear's point scored and RoPE "not verified" at 0."""
    root = autograder_root
    _unpack(bundles["small"], root)
    shutil.copy(CORRECT, root / "submission" / "adapters.py")
    process = subprocess.Popen(
        [str(root / "source" / "run_autograder")],
        cwd=ROOT,
        env=dict(os.environ, AUTOGRADER_ROOT=str(root)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = root / "results" / "results.json"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if results.exists() and _valid_results(results)["score"] > 0:
                break
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, 9)
        process.wait()
    by_name = {test["name"]: test for test in _valid_results(results)["tests"]}
    assert (by_name["Linear"]["status"], by_name["Linear"]["score"]) == ("passed", 1)
    assert by_name["RoPE"]["score"] == 0 and "Not verified" in by_name["RoPE"]["output"], by_name["RoPE"]
