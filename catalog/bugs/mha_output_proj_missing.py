"""Forgot the output projection: returns the concatenated heads.

The shape still comes out (..., seq, d_model) because num_heads · d_k = d_model.
"""

import math

import torch

from reference.adapters import *  # noqa: F403
from reference.adapters import run_rope


def _attention(d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, x, rope=None):
    """rope = (max_seq_len, theta, token_positions) or None."""
    d_k = d_model // num_heads
    *batch, seq, _ = x.shape
    q = (x @ q_proj_weight.T).view(*batch, seq, num_heads, d_k).transpose(-3, -2)
    k = (x @ k_proj_weight.T).view(*batch, seq, num_heads, d_k).transpose(-3, -2)
    v = (x @ v_proj_weight.T).view(*batch, seq, num_heads, d_k).transpose(-3, -2)
    if rope is not None:
        max_seq_len, theta, token_positions = rope
        if token_positions is None:
            token_positions = torch.arange(seq, device=x.device)
        positions = token_positions.unsqueeze(-2)  # one row of positions for every head
        q = run_rope(d_k, theta, max_seq_len, q, positions)
        k = run_rope(d_k, theta, max_seq_len, k, positions)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d_k)
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=x.device), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    out = out.transpose(-3, -2).reshape(*batch, seq, d_model)
    return out


def run_multihead_self_attention(
    d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features
):
    return _attention(d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features)


def run_multihead_self_attention_with_rope(
    d_model,
    num_heads,
    max_seq_len,
    theta,
    q_proj_weight,
    k_proj_weight,
    v_proj_weight,
    o_proj_weight,
    in_features,
    token_positions=None,
):
    rope = (max_seq_len, theta, token_positions)
    return _attention(d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features, rope)
