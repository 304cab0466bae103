"""The reference is the same function as Hugging Face's Llama, Qwen2 and Qwen3 (tiny random models, no download).

HF computes in float32 inside a float64 model: ``LlamaRMSNorm`` casts to
float32, eager attention takes its softmax with ``dtype=torch.float32`` and
``LlamaRotaryEmbedding`` builds cos/sin from float32 angles. Float64 parity is
therefore bounded by float32 rounding, and the float64 tolerance below is
float32's; ``test_float64_gap_is_float32_rounding_inside_hf`` measures the gap
and fails once HF computes in float64, so the tolerance can be tightened.
"""

from __future__ import annotations

import json

import pytest
import torch

from reference import TransformerConfig, TransformerLM, account, load_weights, preset
from reference.huggingface import (
    ConversionError,
    config_from_hf,
    family_of,
    hf_config,
    load_hf_checkpoint,
    state_dict_from_hf,
    state_dict_to_hf,
)

transformers = pytest.importorskip(
    "transformers", reason="the hf extra is not installed: pip install -e '.[hf]' runs the parity tests"
)

BASE = TransformerConfig(
    vocab_size=48, context_length=16, d_model=32, num_layers=2, num_heads=4, d_ff=40, rope_theta=10000.0
)
FAMILIES = {
    "llama-gqa": BASE.replace(num_kv_heads=2, rope_layout="half"),
    "llama-tied-interleaved": BASE.replace(num_kv_heads=1, tie_embeddings=True),
    "qwen2-bias": BASE.replace(qkv_bias=True, norm_eps=1e-6, rope_theta=1e6),
    "qwen3-qk-norm": BASE.replace(qk_norm=True, num_kv_heads=2, head_dim=12, norm_eps=1e-6, tie_embeddings=True),
}
# SPEC §5 float32 default for both: HF's float64 models round to float32 inside (see module docstring).
TOLERANCES = {torch.float32: (1.3e-6, 1e-5), torch.float64: (1.3e-6, 1e-5)}


def _hf_model(config: TransformerConfig, dtype: torch.dtype, seed: int = 0):
    hf = hf_config(config)
    hf._attn_implementation = "eager"
    model_type = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = getattr(transformers, model_type[family_of(config)])(hf).to(dtype).eval()
        # HF initialises norms to one and biases to zero; random values make every tensor count.
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith(("norm.weight", "layernorm.weight", ".bias")):
                    parameter.copy_(
                        1 + 0.3 * torch.randn_like(parameter) if "norm" in name else torch.randn_like(parameter)
                    )
    return model


def _hf_logits(model, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=token_ids, attention_mask=attention_mask).logits


def _token_ids(batch: int, seq: int, vocab: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("batch", "seq"), [(1, 1), (2, 7), (3, 16)])
def test_hf_to_reference_gives_the_same_logits(family: str, dtype: torch.dtype, batch: int, seq: int) -> None:
    config = FAMILIES[family]
    hf_model = _hf_model(config, dtype)
    reference = load_weights(TransformerLM(config, dtype=dtype), state_dict_from_hf(hf_model.state_dict(), config))
    token_ids = _token_ids(batch, seq, config.vocab_size)
    expected = _hf_logits(hf_model, token_ids)
    rtol, atol = TOLERANCES[dtype]
    with torch.no_grad():
        torch.testing.assert_close(reference(token_ids), expected, rtol=rtol, atol=atol)
    # A padding-free batch: an all-ones attention mask must change nothing on the HF side either.
    torch.testing.assert_close(_hf_logits(hf_model, token_ids, torch.ones_like(token_ids)), expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("family", FAMILIES)
def test_reference_to_hf_gives_the_same_logits(family: str, dtype: torch.dtype) -> None:
    config = FAMILIES[family]
    with torch.random.fork_rng():
        torch.manual_seed(3)
        reference = TransformerLM(config, dtype=dtype)
    hf_model = _hf_model(config, dtype, seed=4)
    missing, unexpected = hf_model.load_state_dict(state_dict_to_hf(reference.state_dict(), config), strict=False)
    assert not unexpected and all(key == "lm_head.weight" for key in missing), (missing, unexpected)
    token_ids = _token_ids(2, 9, config.vocab_size)
    rtol, atol = TOLERANCES[dtype]
    with torch.no_grad():
        torch.testing.assert_close(_hf_logits(hf_model, token_ids), reference(token_ids), rtol=rtol, atol=atol)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_conversion_is_exact(family: str) -> None:
    config = FAMILIES[family]
    hf_state = _hf_model(config, torch.float32).state_dict()
    back = state_dict_to_hf(state_dict_from_hf(hf_state, config), config)
    assert back.keys() == hf_state.keys()
    for key, value in hf_state.items():
        assert torch.equal(back[key], value), key


def test_interleaved_reference_really_permutes_q_and_k() -> None:
    """Without the row permutation the converted model would differ: the conversion is not vacuous."""
    config = FAMILIES["llama-tied-interleaved"]
    hf_model = _hf_model(config, torch.float64)
    converted = state_dict_from_hf(hf_model.state_dict(), config)
    unpermuted = state_dict_from_hf(hf_model.state_dict(), config.replace(rope_layout="half"))
    assert not torch.equal(converted["layers.0.attn.q_proj.weight"], unpermuted["layers.0.attn.q_proj.weight"])
    wrong = load_weights(TransformerLM(config, dtype=torch.float64), unpermuted)
    token_ids = _token_ids(1, 8, config.vocab_size)
    with torch.no_grad():
        assert (wrong(token_ids) - _hf_logits(hf_model, token_ids)).abs().max() > 1e-3


def test_float64_gap_is_float32_rounding_inside_hf() -> None:
    """The float64 gap is float32-sized (well above float64 rounding) and within the stated tolerance."""
    config = FAMILIES["llama-gqa"]
    hf_model = _hf_model(config, torch.float64)
    reference = load_weights(
        TransformerLM(config, dtype=torch.float64), state_dict_from_hf(hf_model.state_dict(), config)
    )
    token_ids = _token_ids(2, 12, config.vocab_size)
    with torch.no_grad():
        gap = (reference(token_ids) - _hf_logits(hf_model, token_ids)).abs().max().item()
    assert 1e-12 < gap < TOLERANCES[torch.float64][1], f"float64 gap {gap:.3g}: if tiny, tighten TOLERANCES"


@pytest.mark.parametrize("family", FAMILIES)
def test_config_round_trip(family: str) -> None:
    config = FAMILIES[family]
    assert config_from_hf(hf_config(config), rope_layout=config.rope_layout).resolved() == config.resolved()


def test_unsupported_configurations_are_refused_by_name() -> None:
    with pytest.raises(ConversionError, match="RoPE scaling 'llama3'"):
        config_from_hf(
            {
                **hf_config(BASE).to_dict(),
                "rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 32.0},
            }
        )
    with pytest.raises(ConversionError, match="both q/k-norm and q/k/v bias"):
        family_of(BASE.replace(qk_norm=True, qkv_bias=True))
    with pytest.raises(ConversionError, match="model_type 'gpt2'"):
        config_from_hf({"model_type": "gpt2"})


def test_load_hf_checkpoint_directory(tmp_path) -> None:
    """``save_pretrained`` output (config.json + safetensors) loads into the reference with no network."""
    config = FAMILIES["qwen3-qk-norm"]
    hf_model = _hf_model(config, torch.float32)
    hf_model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "qwen3"
    reference = load_hf_checkpoint(tmp_path)
    token_ids = _token_ids(2, 5, config.vocab_size)
    with torch.no_grad():
        torch.testing.assert_close(reference(token_ids), _hf_logits(hf_model, token_ids), rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2-style", "qwen3-0.6b"])
def test_spec_presets_map_to_hf_configs(name: str) -> None:
    """Each LLaMA/Qwen preset becomes its HF family's config and back, with the same parameter count."""
    config = preset(name)
    hf = hf_config(config)
    assert hf.model_type == family_of(config) == {"llama-3.2-1b": "llama", "qwen2-style": "qwen2"}.get(name, "qwen3")
    assert config_from_hf(hf, rope_layout=config.rope_layout).resolved() == config.resolved()
    model_type = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
    with torch.device("meta"):
        hf_model = getattr(transformers, model_type[hf.model_type])(hf)
    assert sum(p.numel() for p in hf_model.parameters()) == account(config, seq_len=1).parameters.total
