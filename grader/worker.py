"""The process that runs a submission's adapters inside its box: started by ``grader/sandbox.py``, never imported.

It runs as a script under ``python -I``, from a copy of this file in the box's
runtime folder, beside a copy of ``wire.py``: the grader's checkout does not
exist in the box. Nothing here defends against the submission (code in the
same interpreter could undo it); the box (``grader/box.py``) is the boundary,
and the grader validates every message it sends. A submission can at worst
lie about its own answers.

Protocol (``wire.py``): the worker sends ``ready`` with the adapter names, or
``import_error``; then answers each ``call`` with ``result`` or ``error``, and
each ``vjp`` (forward and backward, ``backward.py``) with ``gradients``,
``missing_gradient`` or ``error``. Arguments cross the pipe as copies, so an
adapter that changes one in place would change nothing the grader sees: the
worker compares them after the call and answers ``changed`` (and ``gradients``)
with their new values, which the grader writes back into its own tensors.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--wire", required=True)
    parser.add_argument("--backward", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()

    # The protocol keeps private copies of stdin/stdout; the submission's prints go to stderr (a capped log file).
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)

    import torch

    torch.set_num_threads(options.threads)
    wire = _load("_grader_wire", options.wire)
    backward = _load("_grader_backward", options.backward)
    sys.path.insert(0, options.root)  # the course runs its tests with the repository root on the path
    _tolerate_uninstalled_packages(options.root)
    try:
        spec = importlib.util.spec_from_file_location("submission_adapters", options.adapters)
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission_adapters"] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # anything the import does is the submission's failure
        wire.write_message(channel_out, "import_error", _describe(error))
        return
    functions = sorted(name for name in dir(module) if name.startswith("run_") and callable(getattr(module, name)))
    wire.write_message(channel_out, "ready", {"functions": functions, "torch": torch.__version__})

    device = torch.device(options.device)
    while True:
        try:
            kind, request, _ = wire.read_message(channel_in, device)
        except EOFError:
            return
        if kind not in ("call", "vjp"):
            return
        try:
            _answer(wire, backward, channel_out, getattr(module, request["name"]), kind, request)
        except BaseException as error:  # sys.exit and friends count as the call failing
            wire.write_message(channel_out, "error", _describe(error))


def _answer(wire, backward, channel_out, function, kind: str, request: dict) -> None:
    """Run one request; changed arguments travel back as ``[path, new value]`` (path: 0 args / 1 kwargs, then keys)."""
    arguments = [request.get("args", []), request["kwargs"]]
    before = backward.snapshot(arguments)
    if kind == "call":
        result = function(*arguments[0], **arguments[1])
        changed = [[list(path), value] for path, value in backward.modified(before)]
        if changed:
            wire.write_message(channel_out, "changed", {"value": result, "modified": changed})
        else:
            wire.write_message(channel_out, "result", result)
        return
    try:
        output, gradients = backward.vjp(function, arguments[1], request["wrt"], request["cotangent"])
    except backward.MissingGradient as missing:
        wire.write_message(
            channel_out,
            "missing_gradient",
            {"how": missing.how, "argument": missing.argument, "detail": missing.detail},
        )
        return
    changed = [[list(path), value] for path, value in backward.modified(before)]
    wire.write_message(channel_out, "gradients", {"value": output, "gradients": gradients, "modified": changed})


def _tolerate_uninstalled_packages(root: str) -> None:
    """Let ``importlib.metadata.version("pkg")`` answer for the repository's own, uninstalled packages.

    The course's package asks for its own version in ``__init__``; graded from
    a plain checkout it is not installed, and that must not make it ungradable.
    """
    import importlib.metadata as metadata

    original = metadata.version

    def version(name: str) -> str:
        try:
            return original(name)
        except metadata.PackageNotFoundError:
            if os.path.isdir(os.path.join(root, name.replace("-", "_"))):
                return "0+uninstalled"
            raise

    metadata.version = version


def _describe(error: BaseException) -> dict[str, object]:
    return {
        "type": type(error).__name__,
        "message": str(error)[:2000],
        "not_implemented": isinstance(error, NotImplementedError),
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }


if __name__ == "__main__":
    main()
