"""End-to-end demonstration of the reference on the course test model (``python -m tools.demo``).

Stands in for the README's main job until the grader exists: it builds the
model from fixed seeds, runs it, and shows three checks the suite is built on.
"""

from __future__ import annotations

import torch
from rich.console import Console
from rich.table import Table

import reference as R


def _converted_to_half_layout(model: R.TransformerLM) -> R.TransformerLM:
    """The same model with RoPE in HF's ``rotate_half`` layout and q/k rows permuted to match."""
    config = model.config.replace(rope_layout="half")
    weights = dict(model.state_dict())
    for key, value in weights.items():
        if key.endswith(("attn.q_proj.weight", "attn.k_proj.weight")):
            weights[key] = R.convert_rope_layout(value, config.d_head, "interleaved", "half")
    return R.load_weights(R.TransformerLM(config), weights)


def main() -> None:
    console = Console()
    config = R.preset("course-test")
    torch.manual_seed(0)
    model = R.TransformerLM(config)
    token_ids = torch.randint(
        0, config.vocab_size, (2, config.context_length), generator=torch.Generator().manual_seed(1)
    )

    table = Table(title="Reference Transformer LM: course test model (seed 0)")
    table.add_column("check")
    table.add_column("result", justify="right")
    with torch.no_grad():
        logits = model(token_ids)
        loss = R.cross_entropy(logits[:, :-1], token_ids[:, 1:])
        table.add_row("logits", f"{tuple(logits.shape)} {str(logits.dtype).removeprefix('torch.')}")
        table.add_row(
            "cross-entropy vs log(vocab) at random init",
            f"{loss.item():.4f} vs {torch.log(torch.tensor(config.vocab_size)).item():.4f}",
        )

        changed = token_ids.clone()
        changed[:, -1] = (changed[:, -1] + 1) % config.vocab_size
        leak = (model(changed)[:, :-1] - logits[:, :-1]).abs().max().item()
        table.add_row("causality: change the last token, max change of earlier logits", f"{leak:.1e}")

        half = _converted_to_half_layout(model)
        table.add_row(
            "RoPE interleaved vs half layout (converted weights), max diff",
            f"{(half(token_ids) - logits).abs().max().item():.1e}",
        )

        parameters = sum(p.numel() for p in model.parameters())
        table.add_row("parameters", f"{parameters:,}")
    console.print(table)

    console.print("\nA bad call fails at the boundary, naming the argument:")
    try:
        model(token_ids.float())
    except Exception as error:  # the point is to show whatever the check raises
        console.print(f"[red]{type(error).__name__}[/red]: " + "\n".join(str(error).splitlines()[:4]))


if __name__ == "__main__":
    main()
