"""Treated token ids as 1-based and looked up row id − 1.

Id 0 silently wraps around to the last row.
"""

from reference.adapters import *  # noqa: F403


def run_embedding(vocab_size, d_model, weights, token_ids):
    return weights[token_ids.long() - 1]
