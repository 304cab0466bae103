"""``python -m grader bundle gradescope --rubric PATH --out autograder.zip``: the zip Gradescope's autograder takes.

At the zip's top level (where Gradescope looks): ``setup.sh`` and ``run_autograder`` (``grader/gradescope/``),
``rubric.toml`` (the staff's, checked here so a broken rubric fails now, not on the first submission),
``requirements.txt`` (what grading needs, from ``pyproject.toml``: the dependencies and the ``grade`` extra), and
``transformer-lm-verify/``, the project's source tree: the grader runs the property and golden suites from its
checkout, so the suites, the golden files and the bug catalog travel with it. The zip is the same bytes for the
same inputs (sorted entries, fixed timestamps), so two builds can be compared by hash.
"""

from __future__ import annotations

import argparse
import tomllib
import zipfile
from pathlib import Path

from grader.rubric import RubricError, load_rubric

GRADER_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).with_name("gradescope")
PROJECT = "transformer-lm-verify"
# What grading reads from the checkout: the packages, the suites with their snapshots, and what installs them.
SHIPPED_FOLDERS = ("reference", "harness", "properties", "golden", "catalog", "grader", "tools")
SHIPPED_FILES = ("pyproject.toml", "constraints.txt", "conftest.py", "README.md")
_LEFT_OUT = ("__pycache__", ".pytest_cache", ".hypothesis")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: fixed, so builds are reproducible


def _shipped() -> list[tuple[str, Path]]:
    """(name in the zip, file here) of the project's files, sorted."""
    files = [GRADER_ROOT / name for name in SHIPPED_FILES]
    for folder in SHIPPED_FOLDERS:
        files += [
            path
            for path in (GRADER_ROOT / folder).rglob("*")
            if path.is_file() and not any(part in _LEFT_OUT for part in path.parts) and path.suffix != ".pyc"
        ]
    return sorted((f"{PROJECT}/{path.relative_to(GRADER_ROOT).as_posix()}", path) for path in files)


def requirements() -> str:
    """The project's dependencies and its ``grade`` extra, one a line, as pyproject.toml states them."""
    project = tomllib.loads((GRADER_ROOT / "pyproject.toml").read_text())["project"]
    return "\n".join([*project["dependencies"], *project["optional-dependencies"]["grade"]]) + "\n"


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=_EPOCH)
    entry.external_attr = (0o100755 if executable else 0o100644) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(entry, data)


def build_gradescope(rubric: Path, out: Path) -> Path:
    """Write the Gradescope autograder zip for ``rubric`` to ``out``; ``RubricError`` if the rubric is broken."""
    load_rubric(rubric)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for script in ("setup.sh", "run_autograder"):
            _add(archive, script, (SCRIPTS / script).read_bytes(), executable=True)
        _add(archive, "rubric.toml", rubric.read_bytes())
        _add(archive, "requirements.txt", requirements().encode())
        for name, path in _shipped():
            _add(archive, name, path.read_bytes(), executable=bool(path.stat().st_mode & 0o100))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader bundle", description="Build an autograder bundle for a grading platform."
    )
    parser.add_argument("platform", choices=("gradescope",))
    parser.add_argument("--rubric", type=Path, required=True, help="the rubric TOML the bundle grades with")
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="default ./autograder.zip")
    options = parser.parse_args(argv)
    try:
        written = build_gradescope(options.rubric, options.out)
    except (RubricError, OSError) as error:
        parser.error(str(error))
    print(f"{written}: {written.stat().st_size / 2**20:.1f} MiB; upload it as the Gradescope autograder")
    return 0
