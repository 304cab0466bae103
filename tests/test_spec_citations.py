"""``SPEC.md`` is the project's own specification, and the code agrees with it where it can be read off.

Code, tests, rubrics and the README cite it as "SPEC §N": every cited section must exist as a ``## N.``
heading, or a reader who clones the project follows a citation into nothing. Its §4 lists the adapter
signatures and the course's point weights, which ``harness/protocol.py`` holds as code: the two must agree.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.protocol import ADAPTERS, PROBLEMS

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "SPEC.md"
SCANNED_SUFFIXES = (".py", ".md", ".toml")
SKIPPED_PARTS = {".venv", "venv", "__snapshots__", "snapshots"}

_NUMBER = r"§\s?\d+(?:\.\d+)*"
# "SPEC §4", "SPEC §N.M", "SPEC.md §3", and the sections chained after one: "SPEC §1–§2", "SPEC §4, §5", "... and §5".
CITATION = re.compile(rf"\bSPEC(?:\.md)?\s*({_NUMBER}(?:\s*(?:[–—,-]|\band\b|\bor\b|\bto\b)\s*{_NUMBER})*)")
SECTION_NUMBER = re.compile(r"§\s?(\d+(?:\.\d+)*)")
SIGNATURE = re.compile(r"^(\w+)\((.*)\)$")


def _spec_text() -> str:
    assert SPEC.is_file(), f"{SPEC.relative_to(ROOT)} is missing: code and README cite it by section"
    return SPEC.read_text(encoding="utf-8")


def _headings(text: str) -> set[str]:
    """Section numbers with a heading: ``## 4. The adapter protocol`` gives ``"4"``, ``### 4.2 ...`` gives ``"4.2"``."""
    return set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.?\s", text, flags=re.MULTILINE))


def _section(text: str, number: int) -> str:
    """The body of ``## number.`` up to the next ``## `` heading."""
    match = re.search(rf"^## {number}\.\s.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"SPEC.md has no '## {number}.' heading"
    return match.group(0)


def _scanned_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    listed = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split(
        "\0"
    )
    files = []
    for name in filter(None, listed):
        path = ROOT / name
        if path.suffix in SCANNED_SUFFIXES and not SKIPPED_PARTS & set(path.parts) and path.is_file():
            files.append(path)
    return files


def cited_sections(text: str) -> list[tuple[int, str]]:
    """``(line number, section number)`` of every SPEC citation in ``text``."""
    found = []
    for match in CITATION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.extend((line, number) for number in SECTION_NUMBER.findall(match.group(1)))
    return found


def test_citation_pattern_reads_every_form() -> None:
    """The scan itself: single sections, subsections, ranges and lists after "SPEC" are read; a bare § is not."""
    subsection = "5.2"  # not written out: this file is scanned too, and SPEC.md has no subsections
    text = f"SPEC §4\nSPEC §{subsection}'s budget\nSPEC §1–§2\nSPEC §4, §5\nSPEC.md §3 and §6\nsee §9 alone\n"
    assert [number for _, number in cited_sections(text)] == ["4", subsection, "1", "2", "4", "5", "3", "6"]
    assert cited_sections("line one\nas SPEC §5 says") == [(2, "5")]


def test_every_spec_citation_names_a_section_of_spec_md() -> None:
    """Every "SPEC §N" in a tracked .py/.md/.toml file is a ``## N.`` heading of SPEC.md (``N.M``: a heading too)."""
    headings = _headings(_spec_text())
    files = _scanned_files()
    assert files, "git ls-files listed no .py/.md/.toml files"
    dangling, seen = [], 0
    for path in files:
        for line, number in cited_sections(path.read_text(encoding="utf-8", errors="replace")):
            seen += 1
            major = number.split(".")[0]
            if major not in headings or ("." in number and number not in headings):
                dangling.append(f"{path.relative_to(ROOT)}:{line}: SPEC §{number}")
    assert seen, "no SPEC citation found at all: the scan is broken"
    assert not dangling, f"citations of sections SPEC.md does not have (its sections: {sorted(headings)}):\n" + (
        "\n".join(dangling)
    )


def test_protocol_sections_exist() -> None:
    """Each adapter's ``spec`` field (``"§1 RoPE, §4 positions"``) names sections SPEC.md has."""
    headings = _headings(_spec_text())
    missing = {
        name: number
        for name, adapter in ADAPTERS.items()
        for number in SECTION_NUMBER.findall(adapter.spec)
        if number.split(".")[0] not in headings
    }
    assert not missing, f"harness/protocol.py cites sections SPEC.md does not have: {missing}"


def spec_signatures(text: str) -> dict[str, list[tuple[str, str | None]]]:
    """The §4 code block's signatures: adapter name -> ``[(parameter, default text or None), ...]``."""
    block = re.search(r"^```[^\n]*\n(.*?)^```", _section(text, 4), flags=re.MULTILINE | re.DOTALL)
    assert block, "SPEC.md §4 has no code block of adapter signatures"
    signatures = {}
    for line in filter(None, (line.strip() for line in block.group(1).splitlines())):
        match = SIGNATURE.match(line)
        assert match, f"SPEC.md §4: not a signature: {line!r}"
        name, parameters = match.groups()
        assert name not in signatures, f"SPEC.md §4 lists {name} twice"
        signatures[name] = [
            (part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip() if "=" in part else None)
            for part in (piece.strip() for piece in parameters.split(","))
            if part
        ]
    return signatures


def _default_text(default: object) -> str:
    return "no default" if default is inspect.Parameter.empty else f"default {default!r}"


def test_spec_adapter_signatures_match_the_protocol() -> None:
    """SPEC.md §4's signatures are ``harness.protocol.ADAPTERS``: same adapters, parameter names in order, and
    the same parameters optional with the same default (read off ``reference/adapters.py``)."""
    documented = spec_signatures(_spec_text())
    assert sorted(documented) == sorted(ADAPTERS), (
        f"only in SPEC.md: {sorted(set(documented) - set(ADAPTERS))}; "
        f"only in harness/protocol.py: {sorted(set(ADAPTERS) - set(documented))}"
    )
    for name, adapter in ADAPTERS.items():
        names = tuple(parameter for parameter, _ in documented[name])
        assert names == adapter.parameters, f"{name}: SPEC.md §4 has {names}, the protocol {adapter.parameters}"
        code = inspect.signature(adapter.reference).parameters
        for parameter, default in documented[name]:
            actual = code[parameter].default
            expected = inspect.Parameter.empty if default is None else ast.literal_eval(default)
            assert actual == expected, (
                f"{name}({parameter}): {_default_text(actual)} in the code, {_default_text(expected)} in SPEC.md"
            )


def spec_points(text: str) -> dict[str, tuple[tuple[str, ...], float]]:
    """§4's table of problems: problem -> (adapters, points)."""
    rows = {}
    for line in _section(text, 4).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]) and re.match(r"\d", cells[2]):
            adapters = tuple(re.findall(r"`(\w+)`", cells[1]))
            rows[cells[0].strip("`")] = (adapters, float(re.match(r"[\d.]+", cells[2]).group(0)))
    return rows


def test_spec_point_weights_match_the_protocol() -> None:
    """SPEC.md §4's problems, their adapters and points are ``harness.protocol.PROBLEMS``."""
    documented = spec_points(_spec_text())
    in_code = {name: (problem.adapters, float(problem.points)) for name, problem in PROBLEMS.items()}
    differing = {
        name: {"SPEC.md": documented.get(name), "harness/protocol.py": in_code.get(name)}
        for name in sorted(set(documented) | set(in_code))
        if documented.get(name) != in_code.get(name)
    }
    assert not differing, f"SPEC.md §4's table of problems (adapters, points) differs from the code: {differing}"
