"""Hypothesis profiles of the property suite (``implementation`` and ``reference_only`` live in the root conftest).

Profiles (``--hypothesis-profile NAME`` or env ``HYPOTHESIS_PROFILE``):
``fast`` (default: CI and local runs), ``thorough`` (many more examples) and
``grading`` (derandomized, so two grading runs draw the same examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("fast", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)
settings.register_profile("grading", max_examples=50, derandomize=True, database=None, **_COMMON)
# tools.catalog: runs that share no example database, so each bug or seed is judged on its own draws.
# "catalog" (bug runs) skips shrinking: which property fails matters, not the smallest example.
# "catalog-repeat" (correct implementations, 20 seeds): 2 examples a test and seed, 40 in all (a fast run: 25).
_NO_SHRINK = (Phase.explicit, Phase.generate, Phase.target)
settings.register_profile("catalog", max_examples=10, database=None, phases=_NO_SHRINK, **_COMMON)
settings.register_profile("catalog-repeat", max_examples=2, database=None, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
