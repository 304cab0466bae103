"""The adapter protocol (SPEC §4) as code: one entry per adapter, one per problem; everything else derives from it.

An ``Adapter`` holds what PyTorch's OpInfo holds for an operator: its name and
parameters (the course's ``tests/adapters.py`` keywords), the problem it
belongs to, the SPEC section of its semantics, the reference implementation,
and fixed sample inputs. Tests say which adapters they exercise with
``@pytest.mark.adapters(...)``; the rubric scores a check toward the problem
whose adapters it exercises, the catalog runner skips tests a bug's adapters
cannot change, and the diagnosis names likely bugs on the samples. A new
adapter is added here, and only here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import torch

import reference.adapters as reference
from harness.inputs import (
    attention_weights,
    block_weights,
    linear_weight,
    lm_weights,
    make_ids,
    make_tensor,
    norm_gain,
    with_layout,
)

Sample = tuple[tuple, dict]


# SPEC §5, what the default rubric scores: float32 values of every adapter, and the low-precision behaviour the
# handout demands in words (RMSNorm upcasts and returns the input's dtype). A check in another dtype is a finding.
SCORED_DTYPES = ("float32",)
SCORED = "scored"
# Every kind of finding, with what it means for the reader of a report. A check in a dtype its adapter does not
# score is a finding of that dtype's kind; other kinds are declared with ``@pytest.mark.finding(kind)``.
FINDING_KINDS = {
    "float64": "float64 values at float64's own accuracy; the course allows float32 internals on float64 input",
    "float16": "float16 outputs: the input's dtype, within the budget of native float16 arithmetic",
    "bfloat16": "bfloat16 outputs: the input's dtype, within the budget of native bfloat16 arithmetic",
    "positions-broadcast": "token_positions with only some of the input's leading dims, broadcast right-aligned",
    "rank": "inputs of a rank the course does not annotate, e.g. a (seq, d_model) input to the block",
    # A problem's points follow its own adapter's outputs (SPEC §5): a part adapter that differs from how the
    # composite uses it (run_rmsnorm loading its weights differently) costs the part its points, not the composite.
    "composition": "the composite equals the composition of the submission's own part adapters",
}

# What a check verifies, declared with ``@pytest.mark.aspect(name)`` (none: values). Reports show each aspect as its
# own row under a problem, and a rubric may give an aspect its own share of a problem's points (grader/rubric.py).
VALUES = "values"
ASPECTS = {
    VALUES: "the adapter's outputs: agreement with the reference and laws of the forward values",
    "gradients": "autograd gradients with respect to the activation inputs: agreement with the reference and laws",
    "side-effects": "every tensor passed in (activations, weights, masks, positions) is unchanged after the call",
}


@dataclass(frozen=True)
class Adapter:
    name: str
    problem: str
    spec: str  # the SPEC section that defines its semantics
    samples: Callable[[], list[Sample]]  # fixed, seeded inputs (float32 unless a case needs another dtype)
    scored_dtypes: tuple[str, ...] = SCORED_DTYPES
    # Floating activation inputs, whose gradients the suite checks. Weights are copied into the submission's own
    # modules (as load_state_dict does), so gradients with respect to the weights passed in are not observable.
    differentiable: tuple[str, ...] = ()

    def kind_of_check(self, dtype: str | None) -> str:
        """``"scored"``, or the kind of finding a check of this adapter in ``dtype`` is (the dtype's name)."""
        return SCORED if dtype is None or dtype in self.scored_dtypes else dtype

    @property
    def reference(self) -> Callable:
        return getattr(reference, self.name)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The keyword names, as the course's ``tests/adapters.py`` declares them (read off the reference)."""
        return tuple(inspect.signature(self.reference).parameters)


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    points: float  # the course's weight (SPEC §4); a rubric may change it
    adapters: tuple[str, ...]


def _normal(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return make_tensor(seed, shape, scale=scale)


def _ids(seed: int, high: int, *shape: int) -> torch.Tensor:
    return make_ids(seed, shape, high)


def _transposed(tensor: torch.Tensor) -> torch.Tensor:
    return with_layout(tensor, "transposed")


def _in_dtype(sample: Sample, dtype: torch.dtype) -> Sample:
    args, kwargs = sample
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args), kwargs


# SPEC §4: theta is whatever the caller passes. LLaMA 3's, so a hard-coded course default (10000) shows.
OTHER_THETA = 500000.0


def _linear_samples() -> list[Sample]:
    return [
        ((8, 6, linear_weight(1, 6, 8, torch.float32, "cpu"), _normal(2, 2, 3, 8)), {}),
        # A square weight: W used untransposed still has the right shape. No batch dimension.
        ((8, 8, linear_weight(3, 8, 8, torch.float32, "cpu"), _normal(4, 5, 8)), {}),
        # Two batch dimensions, stored transposed: flattening them with .view raises.
        ((8, 6, linear_weight(1, 6, 8, torch.float32, "cpu"), _transposed(_normal(5, 2, 2, 3, 8))), {}),
    ]


def _embedding_samples() -> list[Sample]:
    weights = _normal(3, 20, 8)
    return [
        ((20, 8, weights, _ids(4, 20, 2, 5)), {}),
        ((20, 8, weights, _ids(5, 20, 5)), {}),  # no batch dimension
        ((20, 8, weights, _ids(6, 20, 2, 2, 3).to(torch.int32)), {}),  # SPEC §4: ids may be int32
    ]


def _swiglu_samples() -> list[Sample]:
    def weights(seed: int, d_model: int, d_ff: int) -> tuple[torch.Tensor, ...]:
        return tuple(
            linear_weight(seed + i, *shape, torch.float32, "cpu")
            for i, shape in enumerate(((d_ff, d_model), (d_model, d_ff), (d_ff, d_model)))
        )

    return [
        ((8, 12, *weights(6, 8, 12), _normal(9, 2, 3, 8)), {}),
        # d_ff = d_model: a W2 whose orientation is guessed from its shape is used untransposed.
        ((8, 8, *weights(10, 8, 8), _transposed(_normal(13, 4, 8))), {}),
    ]


def _rmsnorm_args(scale: float, *shape: int) -> tuple:
    return 8, 1e-5, norm_gain(10, 8, torch.float32, "cpu"), _normal(11, *shape, 8, scale=scale)


def _rope_samples() -> list[Sample]:
    return [
        ((8, 10000.0, 32, _normal(12, 2, 5, 8), _ids(13, 32, 2, 5)), {}),
        ((8, OTHER_THETA, 32, _normal(14, 5, 8), _ids(15, 32, 5)), {}),
        # Positions of the input's full leading shape (an agreed shape, SPEC §4), on a layout .view refuses.
        ((8, 10000.0, 32, _transposed(_normal(16, 2, 3, 5, 8)), _ids(17, 32, 2, 3, 5)), {}),
        # float16 at positions near 2000: angles must be computed in float32 (SPEC §5's required upcast).
        _in_dtype(((8, 10000.0, 2048, _normal(18, 2, 5, 8), 1024 + _ids(19, 1024, 2, 5)), {}), torch.float16),
    ]


def _qkv(*batch: int, scale: float = 1.0) -> tuple[torch.Tensor, ...]:
    return _normal(15, *batch, 4, 8, scale=scale), _normal(16, *batch, 6, 8), _normal(17, *batch, 6, 5)


def _sdpa_samples() -> list[Sample]:
    mask = torch.ones(4, 6, dtype=torch.bool).tril(2)
    return [
        (_qkv(2), {"mask": mask.expand(2, 4, 6)}),
        (_qkv(2), {}),
        _in_dtype((_qkv(2), {}), torch.float64),
        (_qkv(), {"mask": mask}),  # no batch dimension
        (_qkv(2, 3), {"mask": mask}),  # (batch, heads, seq, d), one mask for all
        (_qkv(2, scale=40.0), {}),  # scores beyond 88: exp overflows float32 unless the max is subtracted first
        # A mask filled in the wrong dtype: -1e9 does not fit float16; a float32 bias breaks float16 and bfloat16.
        _in_dtype((_qkv(2), {"mask": mask}), torch.float16),
        _in_dtype((_qkv(2), {"mask": mask}), torch.bfloat16),
    ]


def _projections() -> tuple[torch.Tensor, ...]:
    return tuple(attention_weights(20, 16, torch.float32, "cpu").values())


def _mha_samples() -> list[Sample]:
    return [
        ((16, 4, *_projections(), _normal(24, 2, 5, 16)), {}),
        ((16, 4, *_projections(), _normal(25, 5, 16)), {}),  # no batch dimension
        ((16, 4, *_projections(), _normal(26, 2, 3, 5, 16)), {}),  # two batch dimensions
    ]


def _mha_rope_samples() -> list[Sample]:
    def sample(theta: float, x: torch.Tensor, positions: torch.Tensor | None) -> Sample:
        return (16, 4, 16, theta, *_projections(), x), {"token_positions": positions}

    # The most common bug in course repositories: (batch, seq) positions not broadcast over the heads. It
    # crashes when batch and heads differ (batch 2, 4 heads) and is silently wrong when they are equal.
    return [
        sample(10000.0, _normal(24, 2, 5, 16), _ids(25, 16, 2, 5)),
        sample(10000.0, _normal(27, 4, 5, 16), _ids(28, 16, 4, 5)),
        sample(OTHER_THETA, _normal(29, 2, 5, 16), _ids(30, 16, 5)),
        sample(10000.0, _normal(31, 5, 16), None),  # no batch dimension; None means 0 … seq-1
        sample(10000.0, _normal(32, 2, 3, 5, 16), _ids(33, 16, 2, 3, 5)),
    ]


# Several samples per adapter, each where some bug shows and the others stay quiet: other ranks (no batch
# dimension, two), layouts, theta, position shapes, int32 ids, large values and the dtypes a finding needs.
ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        Adapter(
            "run_linear",
            "linear",
            "§1 Linear, §4 leading dimensions and inputs",
            _linear_samples,
            differentiable=("in_features",),
        ),
        Adapter("run_embedding", "embedding", "§1 Embedding, §4 dtypes", _embedding_samples),
        Adapter(
            "run_silu",
            "swiglu",
            "§1 SiLU",
            # Values to ±200: exp(x) overflows float32, so a sigmoid written as exp(x) / (1 + exp(x)) shows.
            lambda: [((_normal(5, 2, 3, 8, scale=3.0),), {}), ((_normal(6, 3, 8, scale=100.0),), {})],
            differentiable=("in_features",),
        ),
        Adapter("run_swiglu", "swiglu", "§1 SwiGLU", _swiglu_samples, differentiable=("in_features",)),
        Adapter(
            "run_rmsnorm",
            "rmsnorm",
            "§1 RMSNorm, §5 working precision",
            lambda: [
                (_rmsnorm_args(3.0, 2, 3), {}),
                _in_dtype((_rmsnorm_args(500.0, 2, 3), {}), torch.float16),
                # Mean squares near eps, so where eps is added shows; float64, computed in float32 or not.
                (_rmsnorm_args(3e-3, 4), {}),
                _in_dtype((_rmsnorm_args(3.0, 3), {}), torch.float64),
            ],
            # The handout: "upcast your input to torch.float32", and return the input's dtype.
            scored_dtypes=("float32", "float16", "bfloat16"),
            differentiable=("in_features",),
        ),
        Adapter("run_rope", "rope", "§1 RoPE, §4 positions", _rope_samples, differentiable=("in_query_or_key",)),
        Adapter(
            "run_softmax",
            "softmax",
            "§1 softmax",
            lambda: [
                ((_normal(14, 2, 3, 7, scale=3.0), -1), {}),
                ((_normal(14, 2, 3, 7, scale=3.0) + 1000.0, -1), {}),
                ((_normal(15, 4, 3, scale=3.0), 0), {}),
                _in_dtype(((_normal(14, 2, 3, 7, scale=3.0), -1), {}), torch.float64),
            ],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_scaled_dot_product_attention",
            "scaled_dot_product_attention",
            "§1 scaled dot-product attention, §4 masks",
            _sdpa_samples,
            differentiable=("Q", "K", "V"),
        ),
        Adapter(
            "run_multihead_self_attention",
            "multihead_self_attention",
            "§1 causal multi-head self-attention",
            _mha_samples,
            differentiable=("in_features",),
        ),
        Adapter(
            "run_multihead_self_attention_with_rope",
            "multihead_self_attention",
            "§1 causal multi-head self-attention, §4 positions",
            _mha_rope_samples,
            differentiable=("in_features",),
        ),
        Adapter(
            "run_transformer_block",
            "transformer_block",
            "§1 pre-norm Transformer block",
            lambda: [
                (
                    (
                        16,
                        4,
                        24,
                        16,
                        OTHER_THETA,
                        block_weights(30, 16, 24, torch.float32, "cpu"),
                        _normal(26, 2, 5, 16),
                    ),
                    {},
                )
            ],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_transformer_lm",
            "transformer_lm",
            "§1 Transformer LM",
            lambda: [
                (
                    (
                        32,
                        16,
                        16,
                        2,
                        4,
                        24,
                        10000.0,
                        lm_weights(40, 32, 16, 2, 24, torch.float32, "cpu"),
                        _ids(27, 32, 2, 5),
                    ),
                    {},
                )
            ],
        ),
        Adapter(
            "run_cross_entropy",
            "cross_entropy",
            "§1 cross-entropy",
            lambda: [
                ((_normal(28, 2, 5, 11, scale=3.0), _ids(29, 11, 2, 5)), {}),
                ((_normal(28, 2, 5, 11, scale=3000.0), _ids(29, 11, 2, 5)), {}),
                # The loss in the logits' dtype (SPEC §4), int32 targets.
                _in_dtype(((_normal(30, 3, 11, scale=3.0), _ids(31, 11, 3).to(torch.int32)), {}), torch.float16),
            ],
            differentiable=("inputs",),
        ),
    )
}

# SPEC §4's course weights; cross-entropy is not among the weighted core problems (0: reported, not scored).
PROBLEMS: dict[str, Problem] = {
    problem.name: problem
    for problem in (
        Problem("linear", "Linear", 1, ("run_linear",)),
        Problem("embedding", "Embedding", 1, ("run_embedding",)),
        Problem("rmsnorm", "RMSNorm", 1, ("run_rmsnorm",)),
        Problem("swiglu", "SwiGLU (with SiLU)", 2, ("run_swiglu", "run_silu")),
        Problem("rope", "RoPE", 2, ("run_rope",)),
        Problem("softmax", "Softmax", 1, ("run_softmax",)),
        Problem(
            "scaled_dot_product_attention", "Scaled dot-product attention", 5, ("run_scaled_dot_product_attention",)
        ),
        Problem(
            "multihead_self_attention",
            "Causal multi-head self-attention (with and without RoPE)",
            5,
            ("run_multihead_self_attention", "run_multihead_self_attention_with_rope"),
        ),
        Problem("transformer_block", "Pre-norm Transformer block", 3, ("run_transformer_block",)),
        Problem("transformer_lm", "Transformer LM", 3, ("run_transformer_lm",)),
        Problem("cross_entropy", "Cross-entropy", 0, ("run_cross_entropy",)),
    )
}


def module_problem(nodeid: str) -> str | None:
    """The problem a check belongs to, from its module's name alone: the suites keep one module per adapter,
    named for it (``properties/test_silu.py`` tests ``run_silu``, a part of SwiGLU), so a check's problem is known
    before it reports. The harness plugin refuses a check declaring another problem's adapter first, and any
    declared adapter in a module named for none. ``None``: a module named for no adapter (reference-only variants,
    the snapshot machinery), whose checks count toward no problem."""
    stem = PurePosixPath(nodeid.split("::", 1)[0]).stem.removeprefix("test_")
    adapter = ADAPTERS.get(f"run_{stem}")
    return adapter.problem if adapter is not None else None
