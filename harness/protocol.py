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

import torch

import reference.adapters as reference
from harness.inputs import attention_weights, block_weights, linear_weight, lm_weights, make_ids, make_tensor, norm_gain

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


def _in_dtype(sample: Sample, dtype: torch.dtype) -> Sample:
    args, kwargs = sample
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args), kwargs


def _qkv() -> tuple[torch.Tensor, ...]:
    return _normal(15, 2, 4, 8), _normal(16, 2, 6, 8), _normal(17, 2, 6, 5)


def _projections() -> tuple[torch.Tensor, ...]:
    return tuple(attention_weights(20, 16, torch.float32, "cpu").values())


def _rmsnorm_args(scale: float) -> tuple:
    return 8, 1e-5, norm_gain(10, 8, torch.float32, "cpu"), _normal(11, 2, 3, 8, scale=scale)


# Several samples per adapter where a numerically fragile bug shows only on some (large values, float16).
ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        Adapter(
            "run_linear",
            "linear",
            "§1 Linear",
            lambda: [((8, 6, linear_weight(1, 6, 8, torch.float32, "cpu"), _normal(2, 2, 3, 8)), {})],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_embedding", "embedding", "§1 Embedding", lambda: [((20, 8, _normal(3, 20, 8), _ids(4, 20, 2, 5)), {})]
        ),
        Adapter(
            "run_silu",
            "swiglu",
            "§1 SiLU",
            lambda: [((_normal(5, 2, 3, 8, scale=3.0),), {})],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_swiglu",
            "swiglu",
            "§1 SwiGLU",
            lambda: [
                (
                    (
                        8,
                        12,
                        linear_weight(6, 12, 8, torch.float32, "cpu"),
                        linear_weight(7, 8, 12, torch.float32, "cpu"),
                        linear_weight(8, 12, 8, torch.float32, "cpu"),
                        _normal(9, 2, 3, 8),
                    ),
                    {},
                )
            ],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_rmsnorm",
            "rmsnorm",
            "§1 RMSNorm, §5 working precision",
            lambda: [(_rmsnorm_args(3.0), {}), _in_dtype((_rmsnorm_args(500.0), {}), torch.float16)],
            # The handout: "upcast your input to torch.float32", and return the input's dtype.
            scored_dtypes=("float32", "float16", "bfloat16"),
            differentiable=("in_features",),
        ),
        Adapter(
            "run_rope",
            "rope",
            "§1 RoPE, §4 positions",
            lambda: [((8, 10000.0, 32, _normal(12, 2, 5, 8), _ids(13, 32, 2, 5)), {})],
            differentiable=("in_query_or_key",),
        ),
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
            lambda: [
                (_qkv(), {"mask": torch.ones(4, 6, dtype=torch.bool).tril(2).expand(2, 4, 6)}),
                (_qkv(), {}),
                _in_dtype((_qkv(), {}), torch.float64),
            ],
            differentiable=("Q", "K", "V"),
        ),
        Adapter(
            "run_multihead_self_attention",
            "multihead_self_attention",
            "§1 causal multi-head self-attention",
            lambda: [((16, 4, *_projections(), _normal(24, 2, 5, 16)), {})],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_multihead_self_attention_with_rope",
            "multihead_self_attention",
            "§1 causal multi-head self-attention, §4 positions",
            lambda: [
                ((16, 4, 16, 10000.0, *_projections(), _normal(24, 2, 5, 16)), {"token_positions": _ids(25, 16, 2, 5)})
            ],
            differentiable=("in_features",),
        ),
        Adapter(
            "run_transformer_block",
            "transformer_block",
            "§1 pre-norm Transformer block",
            lambda: [
                ((16, 4, 24, 16, 10000.0, block_weights(30, 16, 24, torch.float32, "cpu"), _normal(26, 2, 5, 16)), {})
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
