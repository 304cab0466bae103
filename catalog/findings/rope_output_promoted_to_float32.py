"""Multiplied the input by a float32 cos/sin cache, so float16 and bfloat16 inputs come back as float32.

Type promotion does it silently; the values are right, the dtype is not (SPEC §4 "Dtypes").
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    positions = torch.arange(max_seq_len, dtype=torch.float32, device=x.device)
    angles = torch.outer(positions, inv_freq)
    cos_cache, sin_cache = angles.cos(), angles.sin()
    cos, sin = cos_cache[token_positions.to(x.device)], sin_cache[token_positions.to(x.device)]
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
