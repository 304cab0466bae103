"""Benchmarks of the suites, the grader and the reference forward: ``python -m tools.bench``.

    python -m tools.bench [--only suites,grading,forward] [--quick] [--json FILE] [--compare OLD.json]
                          [--models course-test,gpt2-small] [--device cuda --dtype bfloat16]

One run measures, on this machine:

- suites: wall time of the property and golden suites on the reference;
- grading: wall time of grading the bundled example, and submissions graded per
  minute in batch mode with one and with two workers;
- forward: tokens/s of the reference ``TransformerLM`` with run-time checks on
  and off, and of transformers' ``LlamaForCausalLM`` (eager attention) holding
  the same weights, after checking that both give the same logits.

Every job runs in a subprocess of its own, so the peak memory reported is that
job's alone: peak RSS from ``os.wait4``, plus ``torch.cuda.max_memory_allocated``
on a GPU (``tracemalloc`` would miss torch's tensors, which it does not
allocate through Python). Speed comparisons are ratios against a baseline
measured in the same run (checks off, HF eager, one worker), because absolute
timings on a shared machine drift from run to run; the forward ratios come
from blocks of calls alternated within one process, so that both sides of a
ratio see the same load. Tables for people and ``--json`` for machines
come from one ``BenchResult``; the JSON carries a machine description so that
``--compare OLD.json`` can put two runs side by side.

The modules: ``cli`` (flags and the run), ``plan`` (which jobs, in which
order), ``jobs`` (one job in a subprocess), ``worker`` (the worker modes, the
only module that imports torch), ``cases`` (the forward shapes and variant
names), ``machine`` (the machine description), ``results`` (ratios, verdicts
and the JSON), ``table`` (the tables) and ``compare`` (``--compare``).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root: every job runs there
