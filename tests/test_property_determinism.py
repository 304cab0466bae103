"""A Hypothesis seed names the same examples whatever else the process has imported (properties/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Draws integers, prints the first few; the literal in the extra module is what Hypothesis would pick up.
PROBE = textwrap.dedent(
    """
    import sys
    from hypothesis import given, seed, settings, strategies as st
    import properties.conftest  # noqa: F401  (pins the constant pool, as pytest would load it)
    if sys.argv[1] == "with-extra-module":
        import reference.rope  # module-level literals such as 10000.0 and 500000 join Hypothesis's pool
    seen = []

    @seed(1234)
    @settings(max_examples=300, database=None)
    @given(st.integers(0, 2**20))
    def probe(x):
        seen.append(x)

    probe()
    print(seen)
    """
)


def _draws(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def test_the_local_constant_pool_is_pinned():
    from hypothesis.internal.conjecture import providers

    import properties.conftest  # noqa: F401

    if not hasattr(providers, "_get_local_constants"):
        pytest.skip("this Hypothesis release has no local-constant pool to pin")
    import reference.rope  # noqa: F401

    assert len(providers._get_local_constants()) == 0


def test_a_seed_draws_the_same_examples_whichever_modules_are_loaded():
    assert _draws("alone") == _draws("with-extra-module")
