"""The worker modes, each run in a child process: probing torch, and building models and timing forwards.

The only module of the bench that imports torch (and transformers); ``cli``
imports it only when started as a worker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

import reference as R
from tools.bench.cases import CHECKS_OFF, CHECKS_ON, FORWARD_CASES, HF_EAGER, PARITY_TOLERANCE, ForwardCase, pair_name

# A tiny model's forward takes about a millisecond, close to timer and scheduler noise: calls are
# timed in blocks of at least this long and each sample is the block's mean.
MIN_BLOCK_SECONDS = 0.05


def probe_worker(threads: int | None) -> dict[str, Any]:
    """Torch's version, its intra-op thread count and the CUDA device, as the forward workers will see them."""
    if threads:
        torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name() if cuda else None,
    }


def forward_worker(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Time one forward configuration, or (``impl: parity``) compare HF with the reference.

    The reference with checks on also alternates blocks with checks on and off
    (``paired``): both then see the same load on a shared machine, which
    separate processes minutes apart do not.
    """
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    if spec["impl"] == "parity":
        return _hf_parity(spec)
    case = FORWARD_CASES[spec["model"]]
    device, dtype = torch.device(spec["device"]), getattr(torch, spec["dtype"])
    call = _reference_call(spec, device, dtype) if spec["impl"] == "reference" else _hf_call(spec, device, dtype)
    token_ids = _token_ids(case, spec["seed"]).to(device)
    synchronize = _synchronizer(device)
    with torch.inference_mode():
        calls = warm_up(call, token_ids, spec["warmup"], synchronize)
        samples = [time_block(call, token_ids, calls, synchronize) for _ in range(spec["repeats"])]
        paired = {}
        if spec["impl"] == "reference" and spec["checks"]:
            paired = alternate(_checks_blocks(call, token_ids, calls, synchronize), CHECKS_OFF, spec["repeats"])
    return {
        "samples": samples,
        "calls_per_sample": calls,
        "paired": paired,
        "threads": torch.get_num_threads(),
        "peak_device_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
    }


def _synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def warm_up(call: Callable, token_ids: torch.Tensor, warmup: int, synchronize: Callable[[], None]) -> int:
    """Run the warm-up calls; return how many calls make a block of ``MIN_BLOCK_SECONDS``.

    The first call fills caches (and, with checks on, jaxtyping's per-signature
    state). The fastest call sizes the blocks: a slow one is the machine's
    noise, not the model.
    """
    fastest = min(time_block(call, token_ids, 1, synchronize) for _ in range(max(2, warmup)))
    return min(1000, max(1, math.ceil(MIN_BLOCK_SECONDS / max(fastest, 1e-9))))


def time_block(call: Callable, token_ids: torch.Tensor, calls: int, synchronize: Callable[[], None]) -> float:
    """Seconds per forward, averaged over ``calls`` back-to-back calls; ``synchronize`` waits for a GPU's queue."""
    synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        call(token_ids)
    synchronize()
    return (time.perf_counter() - start) / calls


def alternate(blocks: Mapping[str, Callable[[], float]], baseline: str, repeats: int) -> dict[str, list[float]]:
    """Time every block in turn, ``repeats`` rounds; per subject, its time over the baseline's in each round.

    Adjacent blocks share the machine's load, so their ratio holds still while
    the absolute times of a shared machine wander.
    """
    ratios: dict[str, list[float]] = {pair_name(name, baseline): [] for name in blocks if name != baseline}
    for _ in range(repeats):
        seconds = {name: block() for name, block in blocks.items()}
        for name in blocks:
            if name != baseline:
                ratios[pair_name(name, baseline)].append(seconds[name] / seconds[baseline])
    return ratios


def _checks_blocks(
    call: Callable, token_ids: torch.Tensor, calls: int, synchronize: Callable[[], None]
) -> dict[str, Callable[[], float]]:
    """One reference model timed with run-time checks on, and with them off."""

    def block(enabled: bool) -> Callable[[], float]:
        def timed() -> float:
            with R.checks(enabled):
                return time_block(call, token_ids, calls, synchronize)

        return timed

    return {CHECKS_ON: block(True), CHECKS_OFF: block(False)}


def _token_ids(case: ForwardCase, seed: int) -> torch.Tensor:
    vocab = R.preset(case.model).vocab_size
    return torch.randint(0, vocab, (case.batch, case.seq), generator=torch.Generator().manual_seed(seed + 1))


def _seeded_reference(
    name: str, seed: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> R.TransformerLM:
    """The reference model with fixed-seed random weights, drawn on the CPU in float32 whatever the target.

    Drawing them on the target device would give other numbers (each device has
    its own generator), and the HF checkpoint is saved from the CPU draw.
    """
    torch.manual_seed(seed)
    model = R.TransformerLM(R.preset(name))
    if (device is not None and torch.device(device).type != "cpu") or dtype not in (None, torch.float32):
        model = R.load_weights(R.TransformerLM(model.config, device=device, dtype=dtype), model.state_dict())
    return model.eval()


def _reference_call(spec: Mapping[str, Any], device: torch.device, dtype: torch.dtype) -> Callable:
    R.set_checks(spec["checks"])
    return _seeded_reference(spec["model"], spec["seed"], device, dtype)


def _hf_call(spec: Mapping[str, Any], device: torch.device, dtype: torch.dtype) -> Callable:
    """HF Llama loaded from the parity step's checkpoint: this process holds one copy of the weights."""
    import transformers  # optional: only the HF jobs need it

    model = transformers.LlamaForCausalLM.from_pretrained(spec["checkpoint"], attn_implementation="eager", dtype=dtype)
    if model.config._attn_implementation != "eager":
        raise RuntimeError(f"asked for eager attention, transformers chose {model.config._attn_implementation!r}")
    model = model.to(device).eval()
    # No KV cache: the reference keeps none, and building one is work HF would do and the reference not.
    return lambda token_ids: model(input_ids=token_ids, use_cache=False).logits


def _hf_parity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check that HF eager Llama holding the reference's weights gives its logits, save that checkpoint, then time
    the reference (checks on and off) and HF in alternated blocks.

    The check runs on the CPU in float32 whatever the timed device and dtype:
    it asks whether both compute one function, which lower precisions would
    blur. The alternated blocks give the reference/HF ratio under one machine
    load; the separate HF job gives HF's own throughput and memory.
    """
    import transformers  # optional: only the HF jobs need it

    from reference.huggingface import family_of, hf_config, state_dict_to_hf

    reference = _seeded_reference(spec["model"], spec["seed"])
    config = reference.config
    if family_of(config) != "llama":
        raise ValueError(f"{spec['model']} maps to HF {family_of(config)!r}, not Llama")
    hf_settings = hf_config(config)
    hf_settings._attn_implementation = "eager"
    hf = transformers.LlamaForCausalLM(hf_settings).eval()
    hf.load_state_dict(state_dict_to_hf(reference.state_dict(), config), strict=True)
    token_ids = _token_ids(FORWARD_CASES[spec["model"]], spec["seed"])
    with torch.inference_mode():
        expected = reference(token_ids)
        actual = hf(input_ids=token_ids, use_cache=False).logits
    max_abs_diff = (actual - expected).abs().max().item()
    torch.testing.assert_close(actual, expected, atol=PARITY_TOLERANCE, rtol=PARITY_TOLERANCE)
    hf.save_pretrained(spec["checkpoint"])

    device, dtype = torch.device(spec["device"]), getattr(torch, spec["dtype"])
    if device.type != "cpu" or dtype != torch.float32:
        reference = R.load_weights(R.TransformerLM(config, device=device, dtype=dtype), reference.state_dict())
        hf = hf.to(device=device, dtype=dtype)
    token_ids, synchronize = token_ids.to(device), _synchronizer(device)
    with torch.inference_mode():
        calls = warm_up(reference, token_ids, spec["warmup"], synchronize)
        blocks = _checks_blocks(reference, token_ids, calls, synchronize)

        def hf_call(ids: torch.Tensor) -> torch.Tensor:
            return hf(input_ids=ids, use_cache=False).logits

        hf_calls = warm_up(hf_call, token_ids, spec["warmup"], synchronize)
        blocks[HF_EAGER] = lambda: time_block(hf_call, token_ids, hf_calls, synchronize)
        paired = alternate(blocks, HF_EAGER, spec["repeats"])
    return {"max_abs_diff": max_abs_diff, "paired": paired, "threads": torch.get_num_threads()}
