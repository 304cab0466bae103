"""Mean cross-entropy of unnormalised logits against integer targets."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from reference.checks import Int32Or64, require_index_range, shape_checked
from reference.precision import widened


@shape_checked
def cross_entropy(logits: Float[Tensor, "*batch vocab"], targets: Int32Or64[Tensor, "*batch"]) -> Float[Tensor, ""]:
    """Mean over all leading positions of ``logsumexp(logits) - logits[target]``.

    ``logsumexp`` subtracts the maximum first, so logits scaled by 1000 stay
    finite; the sum is taken in float32 or wider.
    """
    require_index_range("cross_entropy", "targets", targets, logits.shape[-1], "the vocabulary size")
    compute = widened(logits.dtype)
    wide = logits.to(compute)
    maximum = wide.amax(dim=-1, keepdim=True)
    log_normaliser = maximum.squeeze(-1) + (wide - maximum).exp().sum(dim=-1).log()
    target_logits = wide.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return (log_normaliser - target_logits).mean().to(logits.dtype)
