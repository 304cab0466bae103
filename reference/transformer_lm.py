"""Transformer language model: embed → pre-norm blocks → RMSNorm → lm_head → logits."""

from __future__ import annotations

import torch
from jaxtyping import Float, Integer
from torch import Tensor, nn

from reference.block import TransformerBlock
from reference.checks import InputError, checks_enabled, shape_checked
from reference.config import TransformerConfig
from reference.embedding import Embedding
from reference.linear import Linear
from reference.rmsnorm import RMSNorm
from reference.sinusoidal import sinusoidal_positions


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
        self.layers = nn.ModuleList(TransformerBlock(config, **factory) for _ in range(config.num_layers))
        self.ln_final = RMSNorm(config.d_model, eps=config.norm_eps, **factory)
        self.lm_head = Linear(config.d_model, config.vocab_size, **factory)
        if config.tie_embeddings:
            self.lm_head.weight = self.token_embeddings.weight

    @shape_checked
    def forward(
        self,
        token_ids: Integer[Tensor, "*batch seq"],
        token_positions: Integer[Tensor, "*#batch seq"] | None = None,
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
