"""Causal multi-head self-attention as most course submissions write it, one step per method.

Not a catalog entry (the leading underscore): the ``mha_*`` bugs subclass
``Attention``, override the one step they get wrong, and export
``adapters(Bug)``. Everything else is this file's plain, correct code: project,
split heads with ``view`` + ``transpose``, rotate q and k with RoPE (positions
shared by every head), scale by ``1/sqrt(d_k)``, mask the future, softmax over
the keys, merge heads, project out.
"""

import math

import torch

from reference.adapters import run_rope


class Attention:
    def __init__(self, d_model, num_heads):
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads

    def __call__(self, weights, x, rope=None):
        """``weights`` = (q, k, v, o) projections; ``rope`` = (max_seq_len, theta, token_positions) or None."""
        batch, seq = self.leading(x)
        q, k, v = self.queries_keys_values(weights[:3], x, batch, seq, rope)
        out = self.attend(self.causal_mask(self.scores(q, k), seq), v)
        return self.output(self.merge_heads(out, batch, seq), weights[3])

    def leading(self, x):
        *batch, seq, _ = x.shape
        return batch, seq

    def queries_keys_values(self, projections, x, batch, seq, rope):
        q, k, v = (self.split_heads(x @ w.T, batch, seq) for w in projections)
        if rope is None:
            return q, k, v
        max_seq_len, theta, token_positions = rope
        positions = self.head_positions(self.positions(token_positions, seq, x), seq)
        return self.rotate(q, k, v, self.theta(theta), max_seq_len, positions)

    def split_heads(self, t, batch, seq):
        return t.view(*batch, seq, self.num_heads, self.d_k).transpose(-3, -2)

    def positions(self, token_positions, seq, x):
        return torch.arange(seq, device=x.device) if token_positions is None else token_positions

    def head_positions(self, positions, seq):
        return positions.unsqueeze(-2)  # one row of positions for every head

    def theta(self, theta):
        return theta

    def rotate(self, q, k, v, theta, max_seq_len, positions):
        return (
            run_rope(self.d_k, theta, max_seq_len, q, positions),
            run_rope(self.d_k, theta, max_seq_len, k, positions),
            v,
        )

    def scores(self, q, k):
        return q @ k.transpose(-1, -2) / math.sqrt(self.d_k)

    def causal_mask(self, scores, seq):
        future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=scores.device), diagonal=1)
        return scores.masked_fill(future, float("-inf"))

    def attend(self, scores, v):
        return torch.softmax(scores, dim=-1) @ v

    def merge_heads(self, out, batch, seq):
        return out.transpose(-3, -2).reshape(*batch, seq, self.d_model)

    def output(self, out, o_proj_weight):
        return out @ o_proj_weight.T


def adapters(attention=Attention):
    """``run_multihead_self_attention`` and ``..._with_rope`` (SPEC §4 signatures) computed by ``attention``."""

    def run_multihead_self_attention(
        d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features
    ):
        weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
        return attention(d_model, num_heads)(weights, in_features)

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
        weights = (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)
        return attention(d_model, num_heads)(weights, in_features, (max_seq_len, theta, token_positions))

    return run_multihead_self_attention, run_multihead_self_attention_with_rope
