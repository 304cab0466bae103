"""The child process that runs a submission's adapters: started by ``grader.sandbox``, never imported.

It runs as a script under ``python -I`` with nothing of the project on its
path, imports torch, then locks itself down before touching student code:
the grader's packages cannot be imported, the grader's files (golden
snapshots included) cannot be opened, nothing outside the scratch directory
can be written, and no process, signal or socket can be started or sent. The
audit hook is Python-level containment: the process boundary, resource
limits and the parent's validation of every message are what make a breach
harmless (a submission can at worst lie about its own answers).

Protocol (``tools/wire.py``): the worker sends ``ready`` with the adapter
names, or ``import_error``; then answers each ``call`` with ``result`` or
``error``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback

BLOCKED_PACKAGES = ("reference", "harness", "properties", "golden", "catalog", "grader", "tools", "conftest")


def _load_wire(path: str):
    spec = importlib.util.spec_from_file_location("_grader_wire", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _BlockGraderPackages:
    """A meta-path finder that refuses the grader's own packages."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED_PACKAGES:
            raise ImportError(f"{name!r} belongs to the grader and is not available to submissions")
        return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _install_audit_hook(grader_root: str, allowed_roots: list[str], scratch: str) -> None:
    denied_events = {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "socket.connect",
        "socket.bind",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.call_function",
        "os.putenv",
        "os.unsetenv",
    }
    path_events = {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.utime",
        "shutil.rmtree",
        "shutil.copyfile",
    }
    realpath = os.path.realpath
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event: str, args: tuple) -> None:
        if event in denied_events:
            raise PermissionError(f"the grader's sandbox does not allow {event}")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            resolved = realpath(os.fsdecode(path))
            writing = (isinstance(mode, str) and any(flag in mode for flag in "wax+")) or (
                isinstance(flags, int) and bool(flags & write_flags)
            )
            if writing and not (_inside(resolved, scratch) or resolved == os.devnull):
                raise PermissionError(f"the grader's sandbox does not allow writing {resolved}")
            if _inside(resolved, grader_root) and not any(_inside(resolved, root) for root in allowed_roots):
                raise PermissionError(f"the grader's sandbox does not allow reading {resolved}")
        elif (
            event in path_events
            and args
            and isinstance(args[0], str | bytes)
            and not _inside(realpath(os.fsdecode(args[0])), scratch)
        ):
            raise PermissionError(f"the grader's sandbox does not allow {event} outside its scratch directory")

    sys.addaudithook(hook)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--grader-root", required=True)
    parser.add_argument("--wire", required=True)
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
    wire = _load_wire(options.wire)
    grader_root = os.path.realpath(options.grader_root)
    # The grader's own folders leave the path, but not the environment's site-packages, even when the
    # virtual environment lives inside the grader's checkout (the README's .venv): submissions import
    # jaxtyping, einops and the like from there.
    environment = [os.path.realpath(prefix) for prefix in {sys.prefix, sys.base_prefix}]

    def importable(entry: str) -> bool:
        real = os.path.realpath(entry)
        return not _inside(real, grader_root) or any(_inside(real, prefix) for prefix in environment)

    sys.path[:] = [options.root] + [entry for entry in sys.path if entry and importable(entry)]
    sys.meta_path.insert(0, _BlockGraderPackages())
    allowed = [os.path.realpath(sys.prefix), os.path.realpath(options.scratch)]
    _install_audit_hook(grader_root, allowed, os.path.realpath(options.scratch))
    os.chdir(options.scratch)

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
        if kind != "call":
            return
        try:
            result = getattr(module, request["name"])(*request["args"], **request["kwargs"])
            wire.write_message(channel_out, "result", result)
        except BaseException as error:  # sys.exit and friends count as the call failing
            wire.write_message(channel_out, "error", _describe(error))


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
