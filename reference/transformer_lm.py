"""Transformer language model: embed → pre-norm blocks → RMSNorm → lm_head → logits."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Float
from torch import Tensor, nn

from reference.checks import InputError, Int32Or64, checks_enabled, shape_checked
from reference.config import TransformerConfig
from reference.embedding import Embedding
from reference.linear import Linear
from reference.multihead_self_attention import rotary_embedding
from reference.rmsnorm import RMSNorm
from reference.sinusoidal import sinusoidal_positions
from reference.state_dict import from_weights
from reference.transformer_block import TransformerBlock


class TransformerLM(nn.Module):
    def __init__(
        self,
        config: TransformerConfig,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        factory = {"device": device, "dtype": dtype}
        self.token_embeddings = Embedding(config.vocab_size, config.d_model, **factory)
        # One cos/sin cache for all layers: per-layer copies of a long context cost gigabytes.
        rope = rotary_embedding(config, device=device) if config.position_encoding == "rope" else None
        self.layers = nn.ModuleList(TransformerBlock(config, rope=rope, **factory) for _ in range(config.num_layers))
        self.ln_final = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.lm_head = Linear(config.d_model, config.vocab_size, **factory)
        if config.tie_embeddings:
            self.lm_head.weight = self.token_embeddings.weight

    @shape_checked
    def forward(
        self,
        token_ids: Int32Or64[Tensor, "*batch seq"],
        token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
    ) -> Float[Tensor, "*batch seq vocab"]:
        """Unnormalised next-token logits; ``seq`` may be shorter than ``context_length``."""
        seq = token_ids.shape[-1]
        if checks_enabled() and seq > self.config.context_length:
            raise InputError(
                f"TransformerLM: token_ids has {seq} positions, more than context_length {self.config.context_length}"
            )
        x = self.token_embeddings(token_ids)
        if self.config.position_encoding == "sinusoidal":
            if token_positions is None:
                token_positions = torch.arange(seq, device=token_ids.device)
            x = x + sinusoidal_positions(token_positions, self.config.d_model).to(x.dtype)
        for layer in self.layers:
            x = layer(x, token_positions)
        return self.lm_head(self.ln_final(x))


@shape_checked
def transformer_lm(
    token_ids: Int32Or64[Tensor, "*batch seq"],
    weights: Mapping[str, Tensor],
    config: TransformerConfig,
    token_positions: Int32Or64[Tensor, "*#batch seq"] | None = None,
) -> Float[Tensor, "*batch seq vocab"]:
    """Function form: ``weights`` is the whole state dict; the logits take the weights' dtype."""
    dtype = next(iter(weights.values())).dtype
    return from_weights(TransformerLM, config, weights, token_ids.device, dtype)(token_ids, token_positions)
