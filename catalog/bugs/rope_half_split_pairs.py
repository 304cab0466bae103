"""Rotated the pairs (k, k + d_k/2) with a HF-style rotate_half instead of the course's (2k, 2k+1).

The rotation is right for the "half" layout, but the course's weights and SPEC §1 pair neighbours.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    angles = token_positions.to(x.device).float()[..., None] * inv_freq
    cos = torch.cat((angles.cos(), angles.cos()), dim=-1).to(x.dtype)
    sin = torch.cat((angles.sin(), angles.sin()), dim=-1).to(x.dtype)
    first, second = x[..., : d_k // 2], x[..., d_k // 2 :]
    rotated_half = torch.cat((-second, first), dim=-1)
    return x * cos + rotated_half * sin
