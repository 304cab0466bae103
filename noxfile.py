"""Sessions: the suite on CPU and on CUDA, lint, snapshot upkeep, and benchmarks.

``nox -s tests-cpu`` and ``nox -s tests-cuda`` run the same suite; the CUDA
session reuses the machine's own CUDA build of torch and skips, with the
reason, where there is no NVIDIA GPU. ``nox -s golden-update`` regenerates
the golden snapshots; ``nox -s bench`` times the suites, the grader and the
forward (``nox -s bench -- --only forward --quick``). Extra arguments of the
test sessions go to pytest: ``nox -s tests-cpu -- --dtypes bfloat16 -k rope``.
"""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["lint", "tests-cpu", "parity"]
nox.options.default_venv_backend = "venv"

# A plain torch requirement would pull a multi-GB CUDA wheel; the pin takes the CPU build. Without
# the hf extra, tests-cpu also proves the core suite needs no transformers (parity tests skip).
CPU_INSTALL = ("-c", "constraints.txt", "-e", ".[test]")


@nox.session(name="tests-cpu", python="3.11")
def tests_cpu(session: nox.Session) -> None:
    session.install(*CPU_INSTALL)
    session.run("pytest", "--device", "cpu", *session.posargs)


@nox.session(name="tests-cuda", python="3.11", venv_params=["--system-site-packages"])
def tests_cuda(session: nox.Session) -> None:
    # Decide before installing anything: on a machine without a GPU, pip would
    # otherwise fetch a CUDA build of torch only to find no device.
    if shutil.which("nvidia-smi") is None:
        session.skip("no NVIDIA GPU here (nvidia-smi not found); run this session on a CUDA machine")
    has_cuda = session.run(
        "python", "-c", "import torch; print(torch.cuda.is_available())", silent=True, success_codes=[0, 1]
    )
    if not has_cuda or has_cuda.strip() != "True":
        session.skip("nvidia-smi exists but the system's torch cannot see a CUDA device")
    session.install("-e", ".[test,hf]")
    session.run("pytest", "--device", "cuda", *session.posargs)


@nox.session(python="3.11")
def parity(session: nox.Session) -> None:
    """The reference against Hugging Face transformers' Llama, Qwen2 and Qwen3 (tiny random models)."""
    session.install("-c", "constraints.txt", "-e", ".[test,hf]")
    session.run("pytest", "tests/test_hf_parity.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Time the suites, the grader and the forward (reference vs HF); arguments go to ``python -m tools.bench``."""
    session.install("-c", "constraints.txt", "-e", ".[test,hf]")
    session.run("python", "-m", "tools.bench", *session.posargs)


@nox.session(name="golden-update", python="3.11")
def golden_update(session: nox.Session) -> None:
    """Regenerate every golden snapshot from the reference on the CPU (stale files are deleted); review the diff."""
    session.install(*CPU_INSTALL)
    session.run("pytest", "golden", "--device", "cpu", "--snapshot-update", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
