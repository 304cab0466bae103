"""Applied the causal mask after softmax by multiplying with a lower-triangular matrix, renormalised with a
detached sum.

Every output is causal, but the gradient is not: the unmasked softmax's normaliser carries gradient from
earlier outputs to later inputs.
"""

from catalog.bugs._mask_after_softmax import MaskAfterSoftmax
from catalog.bugs._multihead_self_attention import adapters
from reference.adapters import *  # noqa: F403

run_multihead_self_attention, run_multihead_self_attention_with_rope = adapters(MaskAfterSoftmax)
