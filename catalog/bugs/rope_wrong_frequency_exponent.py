"""Used the frequency Θ^(-k/d_k) for pair k instead of Θ^(-2k/d_k) (indexed pairs, forgot the factor 2).

Pair 0 is right, every other pair turns too fast.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    k = torch.arange(d_k // 2, dtype=torch.float32, device=x.device)
    inv_freq = theta ** (-k / d_k)
    angles = token_positions.to(x.device).float()[..., None] * inv_freq
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
