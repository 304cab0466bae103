"""Resource accounting (SPEC §3) agrees with real modules and with ``FlopCounterMode`` on a real forward.

Every model here is built on the meta device: shapes and FLOPs without memory,
so full presets cost nothing.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reference.accounting import DTYPE_BYTES, account
from reference.config import TransformerConfig
from reference.presets import PRESETS
from reference.transformer_lm import TransformerLM
from tools.accounting import main

ROOT = Path(__file__).resolve().parents[1]

_TINY = TransformerConfig(vocab_size=97, context_length=32, d_model=48, num_layers=2, num_heads=6, d_ff=80)
# One switch at a time, then all at once, so a wrong count names the variant that broke it.
VARIANTS: dict[str, TransformerConfig] = {
    "mha": _TINY,
    "gqa": _TINY.replace(num_kv_heads=2),
    "mqa": _TINY.replace(num_kv_heads=1),
    "head_dim": _TINY.replace(head_dim=10),
    "qkv_bias": _TINY.replace(qkv_bias=True),
    "qk_norm": _TINY.replace(qk_norm=True),
    "tied": _TINY.replace(tie_embeddings=True),
    "sinusoidal": _TINY.replace(position_encoding="sinusoidal"),
    "no_position": _TINY.replace(position_encoding="none"),
    "everything": _TINY.replace(num_kv_heads=3, head_dim=10, qkv_bias=True, qk_norm=True, tie_embeddings=True),
}
CONFIGS = {**PRESETS, **VARIANTS}

# seq differs from every d_head and batch from every head count, so swapped factors do not cancel.
SHAPES = [(7, 1), (12, 3)]

# Which accounting component each module of ``TransformerLM`` (name after ``layers.{i}.`` and ``attn.``) feeds.
_COMPONENT_OF_MODULE = {"output_proj": "o_proj", "q_norm": "qk_norm", "k_norm": "qk_norm"}


def _meta_model(config: TransformerConfig, dtype: torch.dtype | None = None) -> TransformerLM:
    return TransformerLM(config, device="meta", dtype=dtype)


def _component_of(parameter_name: str) -> str:
    """``layers.3.attn.output_proj.weight`` → ``o_proj``; ``lm_head.weight`` → ``lm_head``."""
    parts = parameter_name.split(".")
    if parts[0] != "layers":
        return parts[0]
    module = parts[3] if parts[2] == "attn" else parts[2]
    return _COMPONENT_OF_MODULE.get(module, module)


def _counted_forward(config: TransformerConfig, seq_len: int, batch: int) -> FlopCounterMode:
    model = _meta_model(config)
    token_ids = torch.zeros(batch, seq_len, dtype=torch.long, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        model(token_ids)
    return counter


def _module_flops(counter: FlopCounterMode, pattern: str) -> int:
    """FLOPs of every module whose name (root class name stripped) fully matches ``pattern``, summed."""
    regex = re.compile(pattern)
    return sum(
        sum(per_op.values())
        for name, per_op in counter.get_flop_counts().items()
        if regex.fullmatch(name.partition(".")[2])
    )


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.accounting", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_parameter_total_matches_module(name: str) -> None:
    """The total equals ``sum(p.numel())`` of a real module, which stores a tied weight once."""
    config = CONFIGS[name]
    expected = sum(p.numel() for p in _meta_model(config).parameters())
    assert account(config, seq_len=1).parameters.total == expected, f"{name}: {config}"


@pytest.mark.parametrize("name", CONFIGS)
def test_parameter_components_match_submodules(name: str) -> None:
    """Each component equals the parameters of the submodules it names, summed over layers.

    ``named_parameters`` yields a tied weight once, under ``token_embeddings``,
    so a tied ``lm_head`` owns nothing.
    """
    config = CONFIGS[name]
    measured = collections.Counter()
    for parameter_name, parameter in _meta_model(config).named_parameters():
        measured[_component_of(parameter_name)] += parameter.numel()
    accounted = dict(account(config, seq_len=1).parameters.items())
    assert set(measured) <= set(accounted), f"parameters outside any component: {set(measured) - set(accounted)}"
    assert accounted == {component: measured[component] for component in accounted}, f"{name}: {config}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2-style"])
def test_memory_matches_module_bytes(name: str, dtype: torch.dtype) -> None:
    """Memory at a dtype is the bytes a module built in that dtype holds in its parameters."""
    config = PRESETS[name]
    expected = sum(p.numel() * p.element_size() for p in _meta_model(config, dtype).parameters())
    result = account(config, seq_len=1)
    assert result.memory_bytes(dtype) == expected
    assert result.memory_bytes(str(dtype).removeprefix("torch.")) == expected


def test_memory_rejects_unknown_dtype() -> None:
    with pytest.raises(ValueError, match="float32"):
        account(PRESETS["course-test"], seq_len=1).memory_bytes(torch.int8)


@pytest.mark.parametrize(("seq_len", "batch"), SHAPES)
@pytest.mark.parametrize("name", CONFIGS)
def test_flop_total_matches_flop_counter(name: str, seq_len: int, batch: int) -> None:
    """Total forward FLOPs equal ``FlopCounterMode``'s on a real forward of the reference."""
    config = CONFIGS[name]
    counter = _counted_forward(config, seq_len, batch)
    assert account(config, seq_len, batch).flops.total == counter.get_total_flops(), f"{name}: {config}"


@pytest.mark.parametrize(("seq_len", "batch"), SHAPES)
@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2-style", "qwen3-0.6b", "gpt2-small", "everything"])
def test_flop_components_match_flop_counter_modules(name: str, seq_len: int, batch: int) -> None:
    """Each FLOP component equals ``FlopCounterMode``'s count for the modules that compute it.

    QKᵀ and attention·V run in the same module (attention is a function, not a
    module), so their sum is checked against the attention module less its
    four projections.
    """
    config = CONFIGS[name]
    counter = _counted_forward(config, seq_len, batch)
    flops = account(config, seq_len, batch).flops
    attn = r"layers\.\d+\.attn"
    projections = {
        "q_proj": f"{attn}\\.q_proj",
        "k_proj": f"{attn}\\.k_proj",
        "v_proj": f"{attn}\\.v_proj",
        "o_proj": f"{attn}\\.output_proj",
    }
    expected = {component: _module_flops(counter, pattern) for component, pattern in projections.items()}
    expected["ffn"] = _module_flops(counter, r"layers\.\d+\.ffn")
    expected["lm_head"] = _module_flops(counter, "lm_head")
    expected["attention_scores + attention_values"] = _module_flops(counter, attn) - sum(
        expected[component] for component in projections
    )
    accounted = {component: getattr(flops, component) for component in (*projections, "ffn", "lm_head")}
    accounted["attention_scores + attention_values"] = flops.attention_scores + flops.attention_values
    assert accounted == expected


def test_spec_worked_check_gpt2_xl() -> None:
    """SPEC §3: GPT-2 XL at 1024 has ≈2.13 B parameters (≈8.5 GB float32), ≈4.5 TFLOPs, the FFN the largest share."""
    result = account(PRESETS["gpt2-xl"], seq_len=1024)
    assert result.parameters.total == pytest.approx(2.13e9, abs=0.01e9)
    assert result.memory_bytes(torch.float32) == pytest.approx(8.5e9, abs=0.05e9)
    assert result.flops.total == pytest.approx(4.5e12, abs=0.1e12)
    largest, _ = max(result.flops.items(), key=lambda item: item[1])
    assert largest == "ffn"
    assert result.flops.total == _counted_forward(PRESETS["gpt2-xl"], 1024, 1).get_total_flops()


def test_attention_share_grows_with_context() -> None:
    """Attention scales with seq², everything else with seq, so its share grows from 1024 to 16 384."""

    def attention_share(seq_len: int) -> float:
        flops = account(PRESETS["gpt2-xl"], seq_len).flops
        return flops.share("attention_scores") + flops.share("attention_values")

    assert attention_share(16384) > attention_share(1024)


@pytest.mark.parametrize("name", ["gpt2-small", "qwen3-0.6b"])
def test_flops_scale_with_batch_and_tokens(name: str) -> None:
    """Doubling the batch doubles every component; doubling seq doubles all but the seq² attention, which quadruples."""
    base, twice_batch, twice_seq = (account(PRESETS[name], s, b) for s, b in ((64, 1), (64, 2), (128, 1)))
    for component, count in base.flops.items():
        assert getattr(twice_batch.flops, component) == 2 * count, component
        factor = 4 if component.startswith("attention_") else 2
        assert getattr(twice_seq.flops, component) == factor * count, component
    assert twice_seq.parameters == base.parameters


def test_shares_sum_to_one() -> None:
    result = account(PRESETS["qwen3-0.6b"], seq_len=256, batch=2)
    for breakdown in (result.parameters, result.flops):
        assert sum(breakdown.share(component) for component, _ in breakdown.items()) == pytest.approx(1.0)


@pytest.mark.parametrize(("seq_len", "batch"), [(0, 1), (8, 0), (-1, 1), (8, True), (8.0, 1)])
def test_account_rejects_bad_sizes(seq_len: object, batch: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        account(PRESETS["course-test"], seq_len, batch)


def test_cli_prints_tables_with_totals() -> None:
    """``python -m tools.accounting`` runs from the repository root and prints readable and exact totals."""
    result = account(PRESETS["gpt2-xl"], seq_len=1024)
    completed = _run_cli("--preset", "gpt2-xl", "--context", "1024")
    assert completed.returncode == 0, completed.stderr
    for text in ("2.13 B", "4.51 TFLOPs", "8.51 GB", f"{result.parameters.total:,}", f"{result.flops.total:,}"):
        assert text in completed.stdout, f"{text!r} missing from:\n{completed.stdout}"


def test_cli_json_is_the_result_object() -> None:
    """``--json`` prints ``Accounting.as_dict()``, the object the tables are read from."""
    completed = _run_cli("--preset", "llama-3.2-1b", "--context", "32", "--batch", "2", "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == account(PRESETS["llama-3.2-1b"], seq_len=32, batch=2).as_dict()


def test_cli_context_defaults_to_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--preset", "course-test", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["seq_len"] == PRESETS["course-test"].context_length
    assert set(printed["memory_bytes"]) == set(DTYPE_BYTES)


def test_cli_unknown_preset_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "gpt5", "--context", "8"])
    assert exit_info.value.code != 0
    stderr = capsys.readouterr().err
    assert "gpt5" in stderr
    for name in PRESETS:
        assert name in stderr, f"{name!r} missing from:\n{stderr}"


def test_cli_help_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    stdout = capsys.readouterr().out
    for name in PRESETS:
        assert name in stdout


@pytest.mark.parametrize("flag", ["--context", "--batch"])
def test_cli_rejects_non_positive_sizes(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "course-test", flag, "0"])
    assert exit_info.value.code != 0
    stderr = capsys.readouterr().err
    assert flag in stderr and "positive integer" in stderr
