"""Attention that masks the future after softmax (multiplying by a lower-triangular matrix) and renormalises with
a detached sum: shared by the ``mha_*`` and ``block_*`` bugs of that name. Not a catalog entry (leading underscore).
"""

import torch

from catalog.bugs._multihead_self_attention import Attention


class MaskAfterSoftmax(Attention):
    def causal_mask(self, scores, seq):
        return scores  # the mask is applied in attend

    def attend(self, scores, v):
        seq = scores.shape[-1]
        past = torch.tril(torch.ones(seq, seq, dtype=scores.dtype, device=scores.device))
        p = torch.softmax(scores, dim=-1) * past
        return p / p.sum(dim=-1, keepdim=True).detach() @ v
