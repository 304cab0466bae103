"""What the forward section times: the model shapes, and the names the worker and the results share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForwardCase:
    """A model shape and the input it is timed on."""

    model: str  # a reference preset
    batch: int
    seq: int

    @property
    def label(self) -> str:
        return f"{self.model} {self.batch}×{self.seq}"

    @property
    def tokens(self) -> int:
        return self.batch * self.seq


FORWARD_CASES = {
    # SPEC §2's course test model over its whole context of 16 tokens.
    "course-test": ForwardCase("course-test", batch=4, seq=16),
    # GPT-2-small dimensions (a Llama-family model: RMSNorm, SwiGLU with d_ff 3072, RoPE) at a short context.
    "gpt2-small": ForwardCase("gpt2-small", batch=1, seq=128),
}

# Job names of each forward case's variants, and of the job that checks HF against the reference and
# times both in alternated blocks.
CHECKS_ON, CHECKS_OFF, HF_EAGER = "reference, checks on", "reference, checks off", "HF eager"
HF_PARITY = "HF parity, reference vs HF"

# The reference and HF must compute one function before their speeds mean anything (float32, CPU).
PARITY_TOLERANCE = 1e-4


def forward_name(case: ForwardCase, variant: str) -> str:
    return f"{case.label}: {variant}"


def pair_name(subject: str, baseline: str) -> str:
    """The key of ``subject``'s time ratios over ``baseline``'s in a worker's alternated blocks."""
    return f"{subject} / {baseline}"
