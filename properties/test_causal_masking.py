"""Causality of multi-head attention, the block and the LM: position i never sees an input at j > i.

Two laws per component: changing any input after position i (features, token ids, RoPE positions) leaves
outputs ``0 … i`` unchanged, and a prefix of the input gives the prefix of the output. The first holds
exactly in exact arithmetic and survives low precision (masked keys contribute exact zeros), so for
attention, where the mask lives, it runs in every dtype; the block and the LM only stack that attention, so
they, like the prefix law (calls of different lengths round differently), run in the wide dtypes.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from properties.assertions import assert_law
from properties.strategies import ALL_FLOATS, WIDE_FLOATS, make_tensor, seeds, token_ids
from properties.test_multihead_attention import ADAPTER, MAX_SEQ_LEN, attend, draw_problem
from properties.test_transformer_block import draw_block_problem, run_block
from properties.test_transformer_lm import draw_lm_problem, run_lm


def with_new_future(tensor: torch.Tensor, replacement: torch.Tensor, last_kept: int, dim: int) -> torch.Tensor:
    """``tensor`` with every index after ``last_kept`` along ``dim`` taken from ``replacement``."""
    kept = torch.arange(tensor.shape[dim], device=tensor.device) <= last_kept
    kept = kept.reshape((-1,) + (1,) * (-dim - 1))
    return torch.where(kept, tensor, replacement)


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data(), rope=ADAPTER, seed=seeds())
def test_attention_outputs_ignore_later_inputs(implementation, device, dtype, data, rope, seed):
    """MHA(x')[..., :i+1, :] = MHA(x)[..., :i+1, :] when x' (and, with RoPE, its positions) differ only after i."""
    problem = draw_problem(data, dtype, device, min_seq=2)
    x, positions = problem.x, problem.positions
    last = data.draw(st.integers(0, x.shape[-2] - 2), label="last unchanged position i")
    new_x = with_new_future(x, make_tensor(seed, tuple(x.shape), dtype, device, scale=3.0), last, dim=-2)
    moved = torch.randint(0, MAX_SEQ_LEN, positions.shape, generator=torch.Generator().manual_seed(seed))
    new_positions = with_new_future(positions, moved.to(positions), last, dim=-1)
    assert_law(
        attend(implementation, rope, problem, x=new_x, token_positions=new_positions)[..., : last + 1, :],
        attend(implementation, rope, problem)[..., : last + 1, :],
        f"MHA outputs at positions ≤ {last} do not change when inputs after {last} change",
        inputs=problem.inputs(rope, last_unchanged=last),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), rope=ADAPTER)
def test_attention_of_a_prefix_is_the_prefix_of_attention(implementation, device, dtype, data, rope):
    """MHA(x[..., :t, :]) = MHA(x)[..., :t, :] (with RoPE: positions truncated alike, or None for both)."""
    problem = draw_problem(data, dtype, device)
    t = data.draw(st.integers(1, problem.x.shape[-2]), label="prefix length t")
    default_positions = data.draw(st.booleans(), label="token_positions=None")
    positions = None if default_positions else problem.positions
    prefix_positions = None if default_positions else problem.positions[..., :t]
    assert_law(
        attend(implementation, rope, problem, x=problem.x[..., :t, :], token_positions=prefix_positions),
        attend(implementation, rope, problem, token_positions=positions)[..., :t, :],
        f"MHA of the first {t} positions equals the first {t} positions of MHA",
        inputs=problem.inputs(rope, prefix=t, positions_none=default_positions),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), seed=seeds())
def test_block_outputs_ignore_later_inputs(implementation, device, dtype, data, seed):
    """block(x')[..., :i+1, :] = block(x)[..., :i+1, :] when x' differs from x only after position i."""
    problem = draw_block_problem(data, dtype, device, min_seq=2)
    x = problem.x
    last = data.draw(st.integers(0, x.shape[-2] - 2), label="last unchanged position i")
    new_x = with_new_future(x, make_tensor(seed, tuple(x.shape), dtype, device, scale=3.0), last, dim=-2)
    assert_law(
        run_block(implementation, problem, x=new_x)[..., : last + 1, :],
        run_block(implementation, problem)[..., : last + 1, :],
        f"block outputs at positions ≤ {last} do not change when inputs after {last} change",
        inputs=problem.inputs(last_unchanged=last),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_block_of_a_prefix_is_the_prefix_of_the_block(implementation, device, dtype, data):
    """block(x[..., :t, :]) = block(x)[..., :t, :]."""
    problem = draw_block_problem(data, dtype, device)
    t = data.draw(st.integers(1, problem.x.shape[-2]), label="prefix length t")
    assert_law(
        run_block(implementation, problem, x=problem.x[..., :t, :]),
        run_block(implementation, problem)[..., :t, :],
        f"block of the first {t} positions equals the first {t} positions of the block",
        inputs=problem.inputs(prefix=t),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_lm_logits_ignore_later_tokens(implementation, device, dtype, data):
    """LM(ids')[:, :i+1] = LM(ids)[:, :i+1] when ids' differs from ids only after position i."""
    problem = draw_lm_problem(data, dtype, device, min_seq=2)
    ids = problem.ids
    last = data.draw(st.integers(0, ids.shape[-1] - 2), label="last unchanged position i")
    other = data.draw(token_ids(tuple(ids.shape), problem.vocab_size, device), label="later tokens").to(ids.dtype)
    new_ids = with_new_future(ids, other, last, dim=-1)
    assert_law(
        run_lm(implementation, problem, ids=new_ids)[:, : last + 1],
        run_lm(implementation, problem)[:, : last + 1],
        f"LM logits at positions ≤ {last} do not change when tokens after {last} change",
        inputs=problem.inputs(last_unchanged=last),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_lm_logits_of_a_prefix_are_the_prefix_of_the_logits(implementation, device, dtype, data):
    """LM(ids[:, :t]) = LM(ids)[:, :t]: a sequence shorter than the context is scored as its own prefix."""
    problem = draw_lm_problem(data, dtype, device)
    t = data.draw(st.integers(1, problem.ids.shape[-1]), label="prefix length t")
    assert_law(
        run_lm(implementation, problem, ids=problem.ids[:, :t]),
        run_lm(implementation, problem)[:, :t],
        f"LM logits of the first {t} tokens equal the first {t} positions of the logits",
        inputs=problem.inputs(prefix=t),
    )
