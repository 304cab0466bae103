"""Rotated token i by position i (torch.arange over the sequence) and ignored token_positions.

Right whenever the course's tests pass positions 0 … seq-1, wrong for any other positions.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    seq_len = x.shape[-2]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    positions = torch.arange(seq_len, dtype=torch.float32, device=x.device)
    angles = torch.outer(positions, inv_freq)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
