"""Wrote the rotated pairs back into in_query_or_key (x[..., 0::2] = ...), rotating the caller's tensor in place.

The output is right; the caller's queries or keys are rotated too.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    angles = token_positions.to(x.device).float()[..., None] * inv_freq
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2].clone(), x[..., 1::2].clone()
    x[..., 0::2] = even * cos - odd * sin
    x[..., 1::2] = even * sin + odd * cos
    return x
