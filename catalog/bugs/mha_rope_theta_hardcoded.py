"""Rotated with theta = 10000 whatever theta the caller passes.

10000 is the course's default and the value in its test, so the snapshot still matches.
"""

from catalog.bugs._multihead_self_attention import Attention, adapters
from reference.adapters import *  # noqa: F403


class Bug(Attention):
    def theta(self, theta):
        return 10000.0


run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(Bug)
