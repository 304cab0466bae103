"""Properties of ``run_transformer_lm``: embed → pre-norm blocks → RMSNorm → lm_head → unnormalised logits.

``seq`` is drawn up to ``context_length`` and is usually shorter (SPEC §1). Causality: logits up to
position i ignore later tokens, and a prefix of the ids gives the prefix of the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.assertions import assert_law, assert_tensor
from harness.differential import DTYPES, agrees, leaves_inputs_unchanged
from harness.inputs import lm_weights, with_new_future
from harness.strategies import (
    ALL_FLOATS,
    INDEX_DTYPES,
    WIDE_FLOATS,
    attention_layouts,
    floats,
    gain,
    head_layouts,
    layer_weights,
    rope_thetas,
    secondary_settings,
    seeds,
    token_ids,
    weight,
)

pytestmark = pytest.mark.adapters("run_transformer_lm")

NORM_EPS = 1e-5  # SPEC §1: every RMSNorm of the course model


@dataclass(frozen=True)
class LMProblem:
    vocab_size: int
    context_length: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    rope_theta: float
    seed: int
    ids: torch.Tensor
    weights: dict[str, torch.Tensor]

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example: sizes and the seed, not tensors
        sizes = ", ".join(f"{name}={value}" for name, value in self.sizes().items())
        return f"LMProblem({sizes}, ids: {tuple(self.ids.shape)} {self.ids.dtype}, seed={self.seed})"

    def sizes(self) -> dict[str, object]:
        names = ("vocab_size", "context_length", "d_model", "num_layers", "num_heads", "d_ff", "rope_theta")
        return {name: getattr(self, name) for name in names}

    def inputs(self, **extra: object) -> dict[str, object]:
        return self.sizes() | {"in_indices": self.ids} | extra


@st.composite
def lm_problems(draw: st.DrawFn, dtype, device, min_seq: int = 1) -> LMProblem:
    num_heads, d_model = draw(attention_layouts())
    vocab_size = draw(st.integers(2, 32))
    num_layers = draw(st.integers(1, 2))
    d_ff = draw(st.integers(1, 24))
    batch = draw(st.integers(1, 3))
    seq = draw(st.integers(min_seq, 8))
    context_length = draw(st.integers(seq, 16))
    rope_theta = draw(rope_thetas())
    index_dtype = draw(st.sampled_from(INDEX_DTYPES))
    seed = draw(seeds())
    generator = torch.Generator().manual_seed(seed)
    return LMProblem(
        vocab_size=vocab_size,
        context_length=context_length,
        d_model=d_model,
        num_layers=num_layers,
        num_heads=num_heads,
        d_ff=d_ff,
        rope_theta=rope_theta,
        seed=seed,
        ids=torch.randint(0, vocab_size, (batch, seq), generator=generator).to(device=device, dtype=index_dtype),
        weights=lm_weights(seed + 1, vocab_size, d_model, num_layers, d_ff, dtype, device),
    )


def draw_lm_problem(data, dtype, device, *, min_seq=1) -> LMProblem:
    return data.draw(lm_problems(dtype, device, min_seq), label="problem")


def run_lm(implementation, problem: LMProblem, *, ids=None, weights=None) -> torch.Tensor:
    return implementation("run_transformer_lm")(
        **problem.sizes(),
        weights=problem.weights if weights is None else weights,
        in_indices=problem.ids if ids is None else ids,
    )


@pytest.mark.parametrize("dtype", ALL_FLOATS)
@given(data=st.data())
def test_logits_have_shape_batch_seq_vocab_in_the_weights_dtype(implementation, device, dtype, data):
    """Token ids ``(batch, seq)``, int32 or int64, give logits ``(batch, seq, vocab)`` in the weights' dtype."""
    problem = draw_lm_problem(data, dtype, device)
    batch, seq = problem.ids.shape
    assert_tensor(
        run_lm(implementation, problem),
        "the LM's logits are (batch, seq, vocab) in the weights' dtype, on their device",
        shape=(batch, seq, problem.vocab_size),
        dtype=dtype,
        device=device,
        inputs=problem.inputs(),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data(), extra_rows=st.integers(0, 2))
def test_logits_are_invariant_to_batch_composition(implementation, device, dtype, data, extra_rows):
    """A sequence's logits do not depend on which other sequences share its batch, nor on its row."""
    problem = draw_lm_problem(data, dtype, device)
    batch, seq = problem.ids.shape
    others = data.draw(token_ids((extra_rows, seq), problem.vocab_size, device), label="other sequences")
    combined = torch.cat((problem.ids, others.to(problem.ids.dtype)))
    order = torch.tensor(data.draw(st.permutations(range(batch + extra_rows)), label="row order"), device=device)
    logits = run_lm(implementation, problem, ids=combined[order])
    rows = torch.argsort(order)[:batch]
    assert_law(
        logits[rows],
        run_lm(implementation, problem),
        f"logits of {batch} sequences equal their rows in a batch with {extra_rows} others, rows shuffled",
        inputs=problem.inputs(order=order.tolist()),
    )


@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_silenced_blocks_leave_head_of_final_norm_of_embedding(implementation, device, dtype, data):
    """With every layer's attn.output_proj and ffn.w2 zero the blocks are identities, so
    logits = lm_head · RMSNorm_final(token_embeddings[ids]): float64 math here, eps = 1e-5."""
    problem = draw_lm_problem(data, dtype, device)
    silent = {
        key: torch.zeros_like(value)
        for key, value in problem.weights.items()
        if key.endswith(("output_proj.weight", "w2.weight"))
    }
    w = {key: value.to("cpu", torch.float64) for key, value in problem.weights.items()}
    x = w["token_embeddings.weight"][problem.ids.to("cpu", torch.int64)]
    normed = x / torch.sqrt(x.square().mean(-1, keepdim=True) + NORM_EPS) * w["ln_final.weight"]
    assert_law(
        run_lm(implementation, problem, weights=problem.weights | silent),
        normed @ w["lm_head.weight"].T,
        "LM with silenced blocks = lm_head(RMSNorm_final(token_embeddings[ids]))",
        inputs=problem.inputs(),
    )


@pytest.mark.adapters("run_transformer_lm", "run_embedding", "run_transformer_block", "run_rmsnorm", "run_linear")
@pytest.mark.finding("composition")
@pytest.mark.parametrize("dtype", WIDE_FLOATS)
@given(data=st.data())
def test_lm_is_embedding_then_blocks_then_final_norm_then_head(implementation, device, dtype, data):
    """LM = lm_head(RMSNorm_final(block_{L-1}(… block_0(embedding(ids))))), each layer with its own weights,
    every part computed by the implementation's own adapters (run_embedding, run_transformer_block with
    max_seq_len = context_length and theta = rope_theta, run_rmsnorm with eps = 1e-5, run_linear)."""
    problem = draw_lm_problem(data, dtype, device)
    w, d_model = problem.weights, problem.d_model
    x = implementation("run_embedding")(
        vocab_size=problem.vocab_size, d_model=d_model, weights=w["token_embeddings.weight"], token_ids=problem.ids
    )
    for i in range(problem.num_layers):
        prefix = f"layers.{i}."
        x = implementation("run_transformer_block")(
            d_model=d_model,
            num_heads=problem.num_heads,
            d_ff=problem.d_ff,
            max_seq_len=problem.context_length,
            theta=problem.rope_theta,
            weights={key.removeprefix(prefix): value for key, value in w.items() if key.startswith(prefix)},
            in_features=x,
        )
    x = implementation("run_rmsnorm")(d_model=d_model, eps=NORM_EPS, weights=w["ln_final.weight"], in_features=x)
    logits = implementation("run_linear")(
        d_in=d_model, d_out=problem.vocab_size, weights=w["lm_head.weight"], in_features=x
    )
    assert_law(
        run_lm(implementation, problem),
        logits,
        "run_transformer_lm = head(final norm(blocks(embedding))), from the implementation's own parts",
        inputs=problem.inputs(),
    )


def _arguments(data: st.DataObject, dtype: torch.dtype, device: torch.device) -> dict:
    """Every argument of ``run_transformer_lm``, drawn (shared by the differential, gradient and side-effect checks)."""
    vocab = data.draw(st.integers(1, 16), label="vocab_size")
    context = data.draw(st.integers(1, 8), label="context_length")
    batch, seq = data.draw(st.integers(1, 3), label="batch"), data.draw(st.integers(1, context), label="seq")
    num_heads, d_model = data.draw(head_layouts(max_heads=4, max_d_head=4), label="(num_heads, d_model)")
    num_layers, d_ff = data.draw(st.integers(1, 3), label="num_layers"), data.draw(st.integers(1, 16), label="d_ff")
    weights = {"token_embeddings.weight": floats(data, (vocab, d_model), dtype, device, "token_embeddings")}
    for layer in range(num_layers):
        weights |= layer_weights(data, d_model, d_ff, dtype, device, prefix=f"layers.{layer}.")
    weights["ln_final.weight"] = gain(data, d_model, dtype, device, "ln_final")
    weights["lm_head.weight"] = weight(data, vocab, d_model, dtype, device, "lm_head")
    arguments = {
        "vocab_size": vocab,
        "context_length": context,
        "d_model": d_model,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "d_ff": d_ff,
        "rope_theta": data.draw(st.sampled_from([10000.0, 500000, 100.0, 2.5]), label="rope_theta"),
        "weights": weights,
        "in_indices": data.draw(token_ids((batch, seq), vocab, device=device), label="in_indices"),
    }
    return arguments


@DTYPES
@given(data=st.data())
def test_agrees_with_reference(implementation, device, dtype, data):
    """run_transformer_lm: embed → blocks → RMSNorm → lm_head, logits (batch, seq, vocab) in the weights' dtype.

    ``seq`` may be shorter than ``context_length``; ids are int32 or int64.
    """
    agrees(implementation, "run_transformer_lm", _arguments(data, dtype, device), dtype=dtype, device=device)


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


@pytest.mark.aspect("side-effects")
@pytest.mark.parametrize("dtype", [torch.float32])  # a parameter, so that --dtypes can deselect it
@secondary_settings()
@given(data=st.data())
def test_leaves_inputs_unchanged(implementation, device, dtype, data):
    """After a call, every tensor passed in (weights, masks, positions included) is bit-identical (SPEC §4)."""
    leaves_inputs_unchanged(implementation, "run_transformer_lm", _arguments(data, dtype, device))
