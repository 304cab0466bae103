"""Hand-wrote RoPE's backward as the same rotation as the forward, instead of its inverse (the transpose).

The forward is right; the gradient is turned by 2·p·Θ^(-2k/d_k) from the true one.
"""

import torch

from reference.adapters import *  # noqa: F403


def _rotate(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class _Rope(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return _rotate(x, cos, sin)

    @staticmethod
    def backward(ctx, grad_output):
        cos, sin = ctx.saved_tensors
        return _rotate(grad_output, cos, sin), None, None  # should rotate by -angle: _rotate(g, cos, -sin)


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    x = in_query_or_key
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k))
    angles = token_positions.to(x.device).float()[..., None] * inv_freq
    return _Rope.apply(x, angles.cos().to(x.dtype), angles.sin().to(x.dtype))
