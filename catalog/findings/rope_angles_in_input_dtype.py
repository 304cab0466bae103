"""Computed the angles p·Θ^(-2k/d_k) in the input's dtype, so float16/bfloat16 lose whole radians at large p.

In bfloat16 position 300 is already rounded to 300 ± 1; float32 and float64 inputs are fine.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, device=x.device).to(x.dtype) / d_k))
    angles = token_positions.to(device=x.device, dtype=x.dtype)[..., None] * inv_freq
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
