"""Rotary position embedding (RoPE) in its two layouts, and the weight permutation between them.

For position ``p`` and pair ``k ∈ [0, d_k/2)`` the pair's two features are
rotated by the angle ``p · Θ^(-2k/d_k)``. Which two features form pair ``k``
is the layout:

* ``"interleaved"``: features ``(2k, 2k+1)`` (the course; Meta's original code);
* ``"half"``: features ``(k, k + d_k/2)`` (HF LLaMA/Qwen ``rotate_half``).

They are the same rotation up to a fixed permutation of each head's features,
so converting the q/k projection rows (``convert_rope_layout``) makes a model
written for one layout compute the same function in the other.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import Int32Or64, require_feature_size, require_index_range, shape_checked
from reference.config import ROPE_LAYOUTS, RopeLayout
from reference.precision import angle_dtype


def _require_even(where: str, d_k: int) -> None:
    if d_k % 2:
        raise ValueError(f"{where}: RoPE rotates pairs of features, so d_k must be even, got {d_k}")


@shape_checked
def rope_angles(
    token_positions: Int32Or64[Tensor, "*batch seq"], d_k: int, theta: float
) -> Float[Tensor, "*batch seq half_d"]:
    """Angles ``p · Θ^(-2k/d_k)`` in float64, so long contexts keep their precision in every dtype.

    Under ``reference.precision.working_precision()`` they are float32, the least SPEC §5 allows.
    """
    _require_even("rope_angles", d_k)
    if not theta > 0:
        raise ValueError(f"rope_angles: theta must be > 0, got {theta!r}")
    exponents = torch.arange(0, d_k, 2, dtype=angle_dtype(), device=token_positions.device) / d_k
    inverse_frequencies = float(theta) ** -exponents
    return token_positions.to(angle_dtype())[..., None] * inverse_frequencies


@shape_checked
def apply_rope_interleaved(
    x: Float[Tensor, "*#batch seq d_k"],
    cos: Float[Tensor, "*#batch seq d_k//2"],
    sin: Float[Tensor, "*#batch seq d_k//2"],
) -> Float[Tensor, "*#batch seq d_k"]:
    """Rotate feature pairs ``(2k, 2k+1)``."""
    _require_even("apply_rope_interleaved", x.shape[-1])
    pairs = x.unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


@shape_checked
def apply_rope_half(
    x: Float[Tensor, "*#batch seq d_k"],
    cos: Float[Tensor, "*#batch seq d_k//2"],
    sin: Float[Tensor, "*#batch seq d_k//2"],
) -> Float[Tensor, "*#batch seq d_k"]:
    """Rotate feature pairs ``(k, k + d_k/2)``."""
    _require_even("apply_rope_half", x.shape[-1])
    first, second = x.chunk(2, dim=-1)
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


_APPLY = {"interleaved": apply_rope_interleaved, "half": apply_rope_half}


def _rotate(x: Tensor, angles: Tensor, layout: RopeLayout) -> Tensor:
    if layout not in _APPLY:
        raise ValueError(f"RoPE layout must be one of {ROPE_LAYOUTS}, got {layout!r}")
    # cos/sin of the wide angles, rounded once to the input's dtype.
    return _APPLY[layout](x, angles.cos().to(x.dtype), angles.sin().to(x.dtype))


@shape_checked
def rope(
    x: Float[Tensor, "*#batch seq d_k"],
    token_positions: Int32Or64[Tensor, "*#batch seq"],
    theta: float,
    layout: RopeLayout = "interleaved",
) -> Float[Tensor, "*#batch seq d_k"]:
    """RoPE at arbitrary (unsorted, non-contiguous, any sign) integer positions, no cache."""
    return _rotate(x, rope_angles(token_positions, x.shape[-1], theta), layout)


class RotaryPositionalEmbedding(nn.Module):
    """RoPE with the angles of positions ``0 … max_seq_len-1`` cached (non-persistent, float64)."""

    def __init__(
        self,
        theta: float,
        d_k: int,
        max_seq_len: int,
        layout: RopeLayout = "interleaved",
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if layout not in ROPE_LAYOUTS:
            raise ValueError(f"RotaryPositionalEmbedding: layout must be one of {ROPE_LAYOUTS}, got {layout!r}")
        self.theta, self.d_k, self.max_seq_len, self.layout = theta, d_k, max_seq_len, layout
        angles = rope_angles(torch.arange(max_seq_len, device=device), d_k, theta)
        self.register_buffer("cos_cached", angles.cos(), persistent=False)
        self.register_buffer("sin_cached", angles.sin(), persistent=False)

    @shape_checked
    def forward(
        self, x: Float[Tensor, "*#batch seq d_k"], token_positions: Int32Or64[Tensor, "*#batch seq"]
    ) -> Float[Tensor, "*#batch seq d_k"]:
        require_feature_size("RotaryPositionalEmbedding", "x", x, self.d_k, "d_k")
        require_index_range(
            "RotaryPositionalEmbedding", "token_positions", token_positions, self.max_seq_len, "max_seq_len"
        )
        cos = self.cos_cached[token_positions].to(x.dtype)
        sin = self.sin_cached[token_positions].to(x.dtype)
        return _APPLY[self.layout](x, cos, sin)

    def extra_repr(self) -> str:
        return f"theta={self.theta}, d_k={self.d_k}, max_seq_len={self.max_seq_len}, layout={self.layout!r}"


def interleaved_to_half_permutation(d_k: int) -> Tensor:
    """Index ``perm`` with ``half_features = interleaved_features[perm]`` within one head."""
    return torch.cat((torch.arange(0, d_k, 2), torch.arange(1, d_k, 2)))


def convert_rope_layout(tensor: Tensor, head_dim: int, source: RopeLayout, target: RopeLayout) -> Tensor:
    """Permute the per-head rows of a q/k projection weight, bias or q/k-norm gain between layouts.

    ``tensor``'s first dimension is ``num_heads · head_dim`` (projection
    weight or bias) or ``head_dim`` (q/k-norm gain). v and output projections
    are never permuted: RoPE does not touch them.
    """
    for name, layout in (("source", source), ("target", target)):
        if layout not in ROPE_LAYOUTS:
            raise ValueError(f"convert_rope_layout: {name} must be one of {ROPE_LAYOUTS}, got {layout!r}")
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0 or head_dim % 2:
        raise ValueError(f"convert_rope_layout: head_dim must be a positive even integer, got {head_dim!r}")
    if tensor.dim() == 0:
        raise ValueError("convert_rope_layout: tensor must have at least one dimension (rows of heads), got a scalar")
    if tensor.shape[0] % head_dim:
        raise ValueError(
            f"convert_rope_layout: first dimension {tensor.shape[0]} is not a multiple of head_dim {head_dim}"
        )
    if source == target:
        return tensor.clone()
    permutation = interleaved_to_half_permutation(head_dim).to(tensor.device)
    if source == "half":
        permutation = torch.argsort(permutation)
    per_head = tensor.unflatten(0, (-1, head_dim))
    return per_head[:, permutation].flatten(0, 1)
