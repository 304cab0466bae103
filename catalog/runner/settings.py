"""Settings of a catalog run: where the catalog lives, Hypothesis profiles, process sizes, environment names."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]  # the checkout: pytest runs from here
CATALOG = ROOT / "catalog"
# bug: a defect some scored check must kill; finding: a precision-only defect (SPEC §5) a finding check must report
# and no scored check may fail; correct: an implementation no scored check may fail under any seed.
KINDS = ("bug", "finding", "correct")
Kind = Literal["bug", "finding", "correct"]
FOLDERS = {"bug": "bugs", "finding": "findings", "correct": "correct"}
BUG_PROFILE, CORRECT_PROFILE = "catalog", "catalog-repeat"
CORRECT_EXAMPLES = 2  # the examples per test of CORRECT_PROFILE (registered in properties/conftest.py)
BUGS_PER_PROCESS = 12
SEEDS_PER_PROCESS = 5
IMPL_PREFIX, SEED_PREFIX = "impl.", "seed."
SEEDS_ENV = "CATALOG_SEEDS"  # comma-separated: every Hypothesis test runs once per seed, ids ``seed.N``
_SEED_ARGUMENT = "catalog_hypothesis_seed"
IMPLEMENTATIONS_ENV = "CATALOG_IMPLEMENTATIONS"  # JSON for the plugin: [{"name", "path", "adapters"}]
NOTES_ENV = "CATALOG_NOTES"  # where the plugin writes {name: why it could not be loaded}
KILLS_ENV = "CATALOG_KILLS"  # after this many killing properties an implementation's other tests are spared
SPARED = "catalog: spared, already killed by"  # the skip reason of a spared test
DEFAULT_KILLS = 3
# Run last in bug processes: the differential tests kill nearly every bug, naming no law.
LAST_TESTS = ("test_agrees_with_reference", "test_gradient_agrees_with_reference")
# Environment the suite reads that would make one machine's catalog differ from another's.
_SUITE_ENV = ("TRANSFORMER_IMPL", "REFERENCE_TEST_DTYPES", "REFERENCE_TEST_DEVICE", "HYPOTHESIS_PROFILE")
MESSAGE_LINES = 3
SHOWN_TESTS = 3
