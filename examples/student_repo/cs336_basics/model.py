"""A student's Transformer building blocks (plain torch)."""

import math

import torch


def linear(x, weight):
    return x @ weight.T


def silu(x):
    return x * torch.sigmoid(x)


def swiglu(x, w1, w2, w3):
    return linear(silu(linear(x, w1)) * linear(x, w3), w2)


def rmsnorm(x, weight, eps):
    # Bug: no float32 upcast, so x**2 overflows float16 for |x| > 256.
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return x / rms * weight


def softmax(x, dim):
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = shifted.float().exp()
    return (exps / exps.sum(dim=dim, keepdim=True)).to(x.dtype)


def rope(x, theta, token_positions):
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float64) / d)
    angles = token_positions.to(torch.float64)[..., None] * freqs
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, -1) @ v


def multihead(x, num_heads, wq, wk, wv, wo, theta=None, positions=None):
    *batch, seq, _ = x.shape
    d_head = wq.shape[0] // num_heads

    def heads(t):
        return t.reshape(*batch, seq, num_heads, d_head).transpose(-3, -2)

    q, k, v = heads(linear(x, wq)), heads(linear(x, wk)), heads(linear(x, wv))
    if theta is not None:
        if positions is None:
            positions = torch.arange(seq, device=x.device)
        positions = positions.unsqueeze(-2)
        q, k = rope(q, theta, positions), rope(k, theta, positions)
    mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
    out = attention(q, k, v, mask).transpose(-3, -2).reshape(*batch, seq, num_heads * d_head)
    return linear(out, wo)


def block(x, num_heads, theta, weights):
    w = weights
    y = x + multihead(
        rmsnorm(x, w["ln1.weight"], 1e-5),
        num_heads,
        w["attn.q_proj.weight"],
        w["attn.k_proj.weight"],
        w["attn.v_proj.weight"],
        w["attn.output_proj.weight"],
        theta=theta,
    )
    return y + swiglu(rmsnorm(y, w["ln2.weight"], 1e-5), w["ffn.w1.weight"], w["ffn.w2.weight"], w["ffn.w3.weight"])
