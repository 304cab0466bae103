"""Run one grader command for the hostile zoo and account for everything it left behind.

``python tests/zoo_supervisor.py SPEC.json`` (never imported by the tests): the test starts it in a
session of its own, and it

- makes itself the child subreaper (``PR_SET_CHILD_SUBREAPER``), so every process the grader or the
  submission starts, double-forked and ``setsid``-ed ones included, stays its descendant;
- runs the grader with the case's environment (``TMPDIR`` inside the case folder, so every grader,
  worker and child that keeps its environment carries the case's folder as a marker), and kills the
  whole tree if it runs past ``timeout``;
- lists what in the reports folder changed after the grader exited (late writers): inodes changed
  since (ctime) and files whose hash differs from the one at exit, ``grace`` seconds later if any
  process of the grading was still alive then;
- lists the processes still alive after the grace period (descendants, and processes with the marker
  in their environment), then kills them;
- counts ``SIGWINCH`` signals reaching it (the zoo's harmless stand-in for ``kill(-1, ...)``), with
  the sender's command line;
- writes all of it as JSON to ``result``. A missing result means the supervisor itself was killed.

This file is trusted test infrastructure; nothing of a submission imports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 16)
    except OSError:
        return b""


def _processes() -> dict[int, tuple[int, str]]:
    """``pid -> (ppid, state)`` of every process visible in /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat").decode(errors="replace")
        _, _, rest = stat.rpartition(")")
        fields = rest.split()
        if len(fields) >= 2:
            table[int(entry)] = (int(fields[1]), fields[0])
    return table


def _cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()[:300]


def _alive_leftovers(marker: bytes) -> dict[int, str]:
    """Living (not zombie) descendants of this process, and processes whose environment holds the marker."""
    me = os.getpid()
    table = _processes()
    found = {}
    for pid, (_, state) in table.items():
        if pid == me or state == "Z":
            continue
        ancestor, seen = pid, 0
        while ancestor > 1 and seen < 1000:
            ancestor, seen = table.get(ancestor, (0, ""))[0], seen + 1
            if ancestor == me:
                found[pid] = _cmdline(pid)
                break
        else:
            if marker and marker in _read(f"/proc/{pid}/environ"):
                found[pid] = _cmdline(pid)
    return found


def _reap() -> list[tuple[int, int]]:
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _kill_all(marker: bytes) -> dict[int, str]:
    """Kill every leftover, in rounds (a fork bomb may be spawning while we kill); what was found first."""
    first: dict[int, str] = {}
    for _ in range(50):
        leftovers = _alive_leftovers(marker)
        if not leftovers:
            break
        first = first or leftovers
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        _reap()
    return first


def _hash_tree(root: Path) -> dict[str, str]:
    digests = {}
    if not root.is_dir():
        return digests
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_symlink() or not path.is_dir():
            digests[str(path.relative_to(root))] = "special"
    return digests


def _changed_since(root: Path, moment: float) -> list[str]:
    """Files and folders under ``root`` whose inode changed after ``moment`` (ctime: ``utime`` cannot hide it)."""
    if not root.is_dir():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.lstat().st_ctime > moment)


def _descends_from_me(pid: int) -> bool:
    table, me = _processes(), os.getpid()
    for _ in range(1000):
        pid = table.get(pid, (0, ""))[0]
        if pid <= 1:
            return False
        if pid == me:
            return True
    return False


def _watch_sigwinch(received: list[dict], stop: threading.Event, marker: bytes) -> None:
    """Who sent each SIGWINCH: ``ours`` is True for this case's processes, None when the sender is already gone
    (counted: in a serial run nothing else sends it), False for another case's (under ``-n``). Two SIGWINCHs
    pending at once merge into one, so concurrent zoo runs on one machine can hide each other's."""
    while not stop.is_set():
        info = signal.sigtimedwait({signal.SIGWINCH}, 0.2)
        if info is None:
            continue
        # si_pid 0 means "unknown": kill(-1) zeroes it for every receiver after the first one inside a child PID
        # namespace (the kernel rewrites the shared siginfo in place), so it may well be this grading's worker.
        environ = _read(f"/proc/{info.si_pid}/environ") if info.si_pid else b""
        if not info.si_pid:
            ours = None
        elif marker in environ or _descends_from_me(info.si_pid):
            ours = True
        else:
            ours = False if environ else None
        received.append({"pid": info.si_pid, "cmdline": _cmdline(info.si_pid), "ours": ours})


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    marker = spec["marker"].encode()
    out = Path(spec["out"])
    libc = ctypes.CDLL(None, use_errno=True)
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH})
    received: list[dict] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_sigwinch, args=(received, stop, marker), daemon=True)
    watcher.start()

    started = time.monotonic()
    with open(spec["log"], "wb") as log:
        grader = subprocess.Popen(
            spec["command"],
            cwd=spec["cwd"],
            env=spec["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGWINCH}),
        )
    status, hung = None, False
    while status is None:
        # Taken before the reap that finds the grader gone: everything it wrote is older, and a late writer
        # (which cannot see it gone before this reap) can only write after.
        exited_at = time.time()
        for pid, raw in _reap():
            if pid == grader.pid:
                status = os.waitstatus_to_exitcode(raw)
        if status is None and time.monotonic() - started > spec["timeout"]:
            hung = True
            _kill_all(marker)
            status = "killed"
        time.sleep(0.05)
    grader.returncode = -1  # reaped above; keeps Popen from waiting again
    seconds = time.monotonic() - started
    at_exit = _hash_tree(out)
    alive_at_exit = _alive_leftovers(marker)
    if alive_at_exit:  # only a process still alive can write late; nothing alive, nothing to wait for
        time.sleep(spec["grace"])
    after_grace = _hash_tree(out)
    late = set(_changed_since(out, exited_at)) | {
        name for name in set(at_exit) | set(after_grace) if at_exit.get(name) != after_grace.get(name)
    }
    leftovers = _kill_all(marker)
    stop.set()
    watcher.join()
    result = {
        "subreaper": subreaper,
        "exit": status,
        "hung": hung,
        "seconds": round(seconds, 1),
        "leftovers": {str(pid): cmdline for pid, cmdline in leftovers.items()},
        "sigwinch": [sent for sent in received if sent["ours"] is not False],
        "sigwinch_from_others": [sent for sent in received if sent["ours"] is False],
        "reports_changed_late": sorted(late),
    }
    Path(spec["result"]).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
