from __future__ import annotations

from cs336_basics import model


def run_linear(d_in, d_out, weights, in_features):
    return model.linear(in_features, weights.to(in_features.dtype))


def run_embedding(vocab_size, d_model, weights, token_ids):
    return weights[token_ids.long()]


def run_swiglu(d_model, d_ff, w1_weight, w2_weight, w3_weight, in_features):
    dtype = in_features.dtype
    return model.swiglu(in_features, w1_weight.to(dtype), w2_weight.to(dtype), w3_weight.to(dtype))


def run_silu(in_features):
    return model.silu(in_features)


def run_rmsnorm(d_model, eps, weights, in_features):
    return model.rmsnorm(in_features, weights.to(in_features.dtype), eps)


def run_rope(d_k, theta, max_seq_len, in_query_or_key, token_positions):
    return model.rope(in_query_or_key, theta, token_positions)


def run_softmax(in_features, dim):
    return model.softmax(in_features, dim)


def run_scaled_dot_product_attention(Q, K, V, mask=None):
    return model.attention(Q, K, V, mask)


def run_multihead_self_attention(
    d_model, num_heads, q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight, in_features
):
    dtype = in_features.dtype
    weights = [w.to(dtype) for w in (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)]
    return model.multihead(in_features, num_heads, *weights)


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
    dtype = in_features.dtype
    weights = [w.to(dtype) for w in (q_proj_weight, k_proj_weight, v_proj_weight, o_proj_weight)]
    return model.multihead(in_features, num_heads, *weights, theta=theta, positions=token_positions)


def run_transformer_block(d_model, num_heads, d_ff, max_seq_len, theta, weights, in_features):
    weights = {key: value.to(in_features.dtype) for key, value in weights.items()}
    return model.block(in_features, num_heads, theta, weights)


def run_transformer_lm(
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, weights, in_indices
):
    raise NotImplementedError


def run_cross_entropy(inputs, targets):
    raise NotImplementedError
