"""The operating-system boundary ("box") the grader runs untrusted submission code in.

A submission is hostile code that wants points, so nothing inside its own interpreter (audit hooks, import
blockers) is a boundary: the box is made of kernel mechanisms that hold for every process the submission starts.

    box = Box(probe().best, submission=..., runtime=..., limits=Limits(...))   # or `with Box(...) as box:`
    proc = box.popen(["python", "-I", "-u", str(box.paths.runtime / "worker.py")], env=..., stdin=PIPE, ...)
    box.kill()    # everything the box started is dead; popen() may start a new worker
    box.close()   # kill, then remove scratch, cgroups, fence; free the uid slot

Levels
------
``namespaces`` (the default where ``probe()`` finds it works; needs root)
    ``box_init.py`` unshares mount/PID/network/IPC/UTS namespaces (``unshare(2)`` through ctypes) and forks PID 1
    of the new PID namespace, staying outside as the process the grader holds. PID 1 joins the box's cgroups and
    pivots into a fresh tmpfs root holding read-only binds of only: the Python installation (``sys.prefix`` and
    ``sys.base_prefix`` themselves, never the checkout a venv lives in), ``/usr`` and the ``/bin``, ``/lib*``
    links or dirs, ``/etc/ld.so.cache``, ``/dev/{null,zero,full,random,urandom}``, the submission at
    ``/submission``, the runtime folder at ``/box``; plus a private ``/proc``, tmpfs ``/scratch`` (size =
    ``Limits.scratch_bytes``, also HOME and TMPDIR; fresh for each popen) and ``/dev/shm``, and a synthetic
    ``/etc/passwd``. The old root is unmounted, so the grader's checkout, other submissions, ``/root``, the host
    ``/proc`` and ``/sys`` do not exist in there; the network namespace has only a downed loopback. Then it empties
    the capability bounding set, switches to the box uid, sets no_new_privs, installs a seccomp filter that
    refuses new namespaces (the policy of Docker's default profile: no user namespace to regain capabilities in),
    sets rlimits, and forks the target; it stays PID 1 as the box uid, reaping orphans, and exits when the target
    does, which makes the kernel kill everything else in the namespace.
    Why no user namespace: the grader runs as root, and root can make every other namespace itself. A user
    namespace would hand the box capabilities over its own namespaces and widen the kernel surface it can reach;
    without one the box runs as a real host uid with none, which also makes RLIMIT_NPROC and kill-by-uid exact.
    Why no bubblewrap: it would be a system package to install on every grading machine, for what ~250 lines of
    stdlib Python (``box_init.py``: unshare, mount, pivot_root, prctl, seccomp through ctypes) do here. Nor the
    util-linux ``unshare`` tool: its waiting parent holds the target's pipes open and turns a SIGKILL into exit 1.
    Not stopped: the box sees the host's kernel (version, /proc/cpuinfo, /proc/meminfo, load), the host paths of
    its binds in /proc/self/mountinfo, and whatever ``/usr`` and the Python installation hold.
``uid`` (only when asked for: for hosts whose seccomp profile forbids namespaces, e.g. Docker's default)
    No namespaces. ``box_init.py`` joins the cgroups, sets rlimits, drops to the box uid with no capabilities,
    no_new_privs and the same seccomp filter, in its own session, cwd = a per-box scratch dir (a size-capped
    tmpfs where mounting is allowed). The grader's files are hidden by a *fence*: POSIX ACL entries naming only
    the box uid, ``user:<uid>:---`` on every protected path and ``user:<uid>:--x`` on the directories that must
    be crossed to reach the Python installation, the submission and the runtime (the grader's checkout, the
    submission's siblings, home directories, the directory a venv sits in, any ancestor others may not cross, and
    ``protect=``). The fence is then verified by a probe running as the box uid that tries to read every fenced
    path; the box refuses to run if one is readable. ``close()`` removes the ACL entries again. Where a filesystem
    has no ACLs the fence clears the "other" permission bits instead (permanently, and for every other user).
    A different uid already keeps the box from signalling or ptracing the grader.
    It does NOT stop: reading anything world-readable on the host (``/etc``, ``/usr``, ``/tmp`` entries made by
    others, paths created under a fenced directory after the fence was set), other processes' command lines
    (``/proc/<pid>/cmdline``) and the rest of the host's ``/proc`` and ``/sys``, writing to world-writable places
    (``/tmp``, ``/dev/shm``, where the scratch cap does not reach; without a tmpfs scratch only each file is capped,
    by RLIMIT_FSIZE), the network (including the host's loopback services), abstract unix sockets and SysV IPC of
    the host, and daemons outliving the worker until ``kill()``.
``none``
    A plain subprocess in its own session with a scratch cwd: no isolation, no limits; for trusted code in tests
    and developer runs, so that callers have one API.

Limits
------
cgroups where writable: v2 ``memory.max``/``memory.swap.max``/``pids.max``, or v1 ``memory.limit_in_bytes``
(+ ``memory.memsw.limit_in_bytes``) and ``pids.max``. On a v2-only host the memory and pids controllers are only
usable if they can be enabled below the grader's own cgroup, i.e. the grader runs in a delegated cgroup with no
other processes (``systemd-run --scope -p Delegate=yes``, or a container whose init moved itself to a leaf);
otherwise v2 still gives ``cgroup.kill`` and the limits fall back to rlimits. rlimits always: CPU seconds (per
process, so a many-process box gets more in total: the grader's wall-clock timeout is the real bound), NPROC (per
uid, which the per-box uid makes meaningful), FSIZE, NOFILE, CORE=0, and DATA in place of a memory cgroup on CPU
boxes (never AS: CUDA reserves huge address ranges). The scratch size is the tmpfs size.

Teardown
--------
``kill()``: ``cgroup.kill`` (v2), or freeze-kill-thaw (v1 freezer), or kill-until-empty over ``cgroup.procs``;
then every process of the box uid, per pid, and ``kill(-1)`` as that uid when something keeps forking, until none
is left; PID 1 dying makes the kernel kill whatever else is in the namespace. Last, the processes popen() returned
are reaped, and kill() waits for the zombies of the box uid to be reaped (they count against the uid's
RLIMIT_NPROC; level uid's orphans are reaped by the host's init, which on this development VM takes ~2 s).
Killing the process popen() returned also ends the box (PID 1 has a parent-death signal). Each box holds a slot
lock (``flock``) for its uid, so concurrent boxes, also across grader processes, never share a uid; a new box
first kills what a crashed grader left running under its uid. If the grader itself dies without close(), a
level-uid worker lives on until it exits (e.g. on EOF of its stdin); a namespaces one dies with its mirror() only
if that is killed too.

A popen()'ed process's returncode is the target's in every level (-N for death by signal N).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import functools
import itertools
import json
import marshal
import os
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from grader import box_init

MiB = 1 << 20
GiB = 1 << 30
UID_BASE = 61000  # box uid = UID_BASE + slot; these uids must belong to nobody else on the machine
SLOTS = 1000
_INIT = Path(box_init.__file__)
_SETUP_SECONDS = 30.0
# Read-only in every namespaces box, when present; symlinks (merged /usr) are recreated as symlinks.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class Level(StrEnum):
    NAMESPACES = "namespaces"
    UID = "uid"
    NONE = "none"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * GiB
    cpu_seconds: int = 900
    processes: int = 256  # processes and threads
    scratch_bytes: int = 256 * MiB
    file_bytes: int = 64 * MiB
    open_files: int = 256


@dataclass(frozen=True)
class Probe:
    best: Level
    refused: dict[Level, str]  # one line each: why that level is not available here


@dataclass(frozen=True)
class BoxPaths:
    """Where things are as seen from inside the box."""

    submission: Path
    runtime: Path
    scratch: Path


class BoxError(RuntimeError):
    """The box could not be set up; the message is one line, fit for a report."""


# --- probe -------------------------------------------------------------------------------------------------------

_probed: Probe | None = None


def probe(refresh: bool = False) -> Probe:
    """The strongest level that actually works here, found by running a trivial command in each; cached."""
    global _probed
    if _probed is None or refresh:
        refused: dict[Level, str] = {}
        if os.geteuid() != 0:
            refused[Level.NAMESPACES] = (
                "namespaces unavailable: not root (a box inside an unprivileged user namespace is not implemented)"
            )
            refused[Level.UID] = "uid unavailable: not root, so processes cannot be switched to a separate box uid"
        else:
            for level in (Level.NAMESPACES, Level.UID):
                if reason := _try_level(level):
                    refused[level] = reason
        best = next((lv for lv in (Level.NAMESPACES, Level.UID) if lv not in refused), Level.NONE)
        _probed = Probe(best, refused)
    return _probed


def _try_level(level: Level) -> str | None:
    with tempfile.TemporaryDirectory(prefix="grader-box-probe-") as tmp:
        os.chmod(tmp, 0o755)
        try:
            with Box(level, submission=Path(tmp), runtime=Path(tmp), _probing=True) as box:
                # Level uid runs a system program: the interpreter may sit behind a directory only the fence opens.
                argv = ["python", "-I", "-S", "-c", "pass"] if level is Level.NAMESPACES else ["true"]
                proc = box.popen(argv, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                err = proc.communicate(timeout=60)[1].decode(errors="replace")
                if proc.returncode == 0:
                    return None
                line = _last_line(err) or f"exit status {proc.returncode}"
        except (BoxError, OSError, subprocess.SubprocessError) as exc:
            line = str(exc).removeprefix("box setup failed: ")
    line = line.split(" during setup: ")[-1]  # the complaint itself says what was refused
    seccomp = level is Level.NAMESPACES and "not permitted" in line.lower()
    return f"{level} refused: {line}" + (" (a container whose seccomp profile forbids them?)" if seccomp else "")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- CUDA --------------------------------------------------------------------------------------------------------


def cuda_binds(dev_names: Iterable[str], ldconfig_p: str) -> list[str]:
    """Host paths a CUDA box needs besides the CPU box's: the NVIDIA device nodes, then the driver libraries.

    dev_names is a listing of /dev; ldconfig_p is the output of ``ldconfig -p``. Nothing else (no nvidia-modeset,
    no /dev/dri, no other libraries) is included; the CUDA runtime itself comes with torch, inside the venv.
    """
    fixed = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-caps")
    names = set(dev_names)
    gpus = sorted((n for n in names if n.startswith("nvidia") and n[6:].isdigit()), key=lambda n: int(n[6:]))
    devices = [f"/dev/{n}" for n in (*[f for f in fixed if f in names], *gpus)]
    libs = []
    for line in ldconfig_p.splitlines():
        name, sep, path = line.strip().partition(" => ")
        if sep and name.startswith(("libcuda.", "libnvidia-")) and path not in libs:
            libs.append(path.strip())
    return devices + libs


@functools.cache
def _host_cuda_binds() -> tuple[str, ...]:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        out = ""
    return tuple(cuda_binds(os.listdir("/dev"), out))


# --- cgroups -----------------------------------------------------------------------------------------------------


def _own_cgroups() -> dict[str, Path]:
    """This process's own cgroup directory per usable hierarchy ("v2", "memory", "pids", "freezer"), if writable."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for key in controllers.split(",") if controllers else ["v2"]:
            own[key] = path
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        head, _, tail = line.partition(" - ")
        fields, (fstype, _source, options) = head.split(), tail.split()[:3]
        if fstype == "cgroup2":
            keys = ["v2"]
        elif fstype == "cgroup":
            keys = [k for k in options.split(",") if k in ("memory", "pids", "freezer")]
        else:
            continue
        for key in keys:
            rel = os.path.relpath(own.get(key, "/.."), fields[3])  # a cgroup outside this mount's root: ".."
            where = Path(os.path.normpath(os.path.join(fields[4], rel)))
            if key not in found and not rel.startswith("..") and os.access(where, os.W_OK):
                found[key] = where
    return found


class _Cgroups:
    """The box's cgroups, one per hierarchy it uses; box_init joins each by writing "0" to its cgroup.procs."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.dirs: list[Path] = []
        self.memory = self.pids = False
        self._kill: Path | None = None
        self._freezer: Path | None = None
        parents = _own_cgroups()
        if v2 := parents.get("v2"):
            with contextlib.suppress(OSError):  # EBUSY where our cgroup has processes: then v2 only tracks and kills
                (v2 / "cgroup.subtree_control").write_text("+memory +pids")
            if (box := self._make(v2 / name)) is not None:
                self.memory = _write(box / "memory.max", limits.memory_bytes)
                if self.memory and (box / "memory.swap.max").exists():
                    _write(box / "memory.swap.max", 0)
                self.pids = _write(box / "pids.max", limits.processes)
                self._kill = box / "cgroup.kill" if (box / "cgroup.kill").exists() else None
        if not self.memory and (parent := parents.get("memory")) and (box := self._make(parent / name)) is not None:
            self.memory = _write(box / "memory.limit_in_bytes", limits.memory_bytes)
            if self.memory and (box / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no swapping out
                _write(box / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        if not self.pids and (parent := parents.get("pids")) and (box := self._make(parent / name)) is not None:
            self.pids = _write(box / "pids.max", limits.processes)
        if self._kill is None and (parent := parents.get("freezer")):
            self._freezer = self._make(parent / name)

    def _make(self, path: Path) -> Path | None:
        try:
            path.mkdir()
        except OSError:
            return None
        self.dirs.append(path)
        return path

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids_inside(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        if self._kill is not None:
            _write(self._kill, 1)
        elif self._freezer is not None:  # frozen processes cannot fork while they are being killed
            _write(self._freezer / "freezer.state", "FROZEN")
            for pid in self.pids_inside():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _write(self._freezer / "freezer.state", "THAWED")
        deadline = time.monotonic() + 5
        while (pids := self.pids_inside()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        for d in self.dirs:
            deadline = time.monotonic() + 2
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY until the killed tasks are fully gone
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
        self.dirs = []


def _write(path: Path, value: object) -> bool:
    try:
        path.write_text(str(value))
        return True
    except OSError:
        return False


# --- slots, uids ---------------------------------------------------------------------------------------------------


def _state_dir() -> Path:
    """Root-only directory for slot locks; /run where possible, since a uid-level box can write to /tmp."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    path = base / "grader-box"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not (path.is_dir() and not path.is_symlink() and st.st_uid == os.geteuid() and not st.st_mode & 0o022):
        raise BoxError(f"{path} is not a directory only this user may write to; remove it")
    return path


def _take_slot(slot: int | None) -> tuple[int, int]:
    """(slot, fd of its lock file): the lock is held, across processes too, until the fd is closed.

    A slot whose uid still has processes (a grader died without close(); zombies not yet reaped, which count
    against RLIMIT_NPROC) is cleared first, or, if only unreaped zombies remain, passed over for the next one.
    """
    state = _state_dir()
    for n in range(SLOTS) if slot is None else [slot]:
        fd = os.open(state / f"slot-{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _kill_uid(UID_BASE + n, zombie_seconds=0 if slot is None else 10):
            return n, fd
        os.close(fd)
    raise BoxError(f"box slot {slot} is in use" if slot is not None else f"all {SLOTS} box slots are in use")


def _uid_pids(uid: int, *, zombies: bool = False) -> list[int]:
    """Processes whose uid is uid, from the host's /proc; zombies only if asked for."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            state = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if zombies or state not in ("Z", "X"):
            pids.append(int(name))
    return pids


def _kill_uid(uid: int, *, timeout: float = 10.0, zombie_seconds: float = 5.0) -> bool:
    """SIGKILL every process of uid, then wait up to zombie_seconds for their zombies to be reaped.

    True if none is left. A zombie counts against the uid's RLIMIT_NPROC until its parent reaps it, and an
    orphan's parent is the host's init, which may take seconds (box.kill() leaves no orphans where it can).
    """
    deadline = time.monotonic() + timeout
    rounds = 0
    while pids := _uid_pids(uid):
        if time.monotonic() > deadline:
            raise BoxError(f"processes of box uid {uid} survive SIGKILL: {pids[:5]}")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        rounds += 1
        if rounds >= 3:  # something keeps forking: kill(-1) as the uid hits all of its processes in one pass
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", "import os; os.kill(-1, 9)"],
                user=uid,
                group=uid,
                extra_groups=[],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        time.sleep(0.005)
    deadline = time.monotonic() + zombie_seconds
    while _uid_pids(uid, zombies=True):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- the fence (level uid) -----------------------------------------------------------------------------------------

_ACL = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_VERIFY = """
import json, os, site, sys
cfg = json.load(sys.stdin)
def readable(p):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False
visible = cfg["visible"] + [p for p in site.getsitepackages() if os.path.exists(p)]
print(json.dumps([[p for p in cfg["hidden"] if readable(p)], [p for p in visible if not readable(p)]]))
"""


def _fence_plan(protect: Iterable[Path], allow: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(traverse, deny): directories the box uid may only cross, and paths it may not touch at all.

    Everything under a protected root is denied except the allowed paths and the directories leading to them;
    those directories are crossed (never listed) and each of their other entries is denied in turn.
    """
    traverse: dict[Path, None] = {}
    deny: dict[Path, None] = {}

    def walk(path: Path) -> None:
        if path in traverse or path in deny or any(path == a or a in path.parents for a in allow):
            return
        if not any(path in a.parents for a in allow):
            deny[path] = None
            return
        traverse[path] = None
        for child in sorted(path.iterdir()):
            if not child.is_symlink():  # a link's target is fenced, or not, on its own path
                walk(child)

    for root in protect:
        if root.exists() and root != Path("/"):
            walk(root)
    return list(traverse), list(deny)


def _acl_entries(path: Path) -> tuple[list[tuple[int, int, int]], bool]:
    """(entries, had an ACL xattr); a path without one gets the minimal ACL its mode bits stand for."""
    try:
        raw = os.getxattr(path, _ACL, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        mode = os.lstat(path).st_mode
        minimal = [(_ACL_USER_OBJ, mode >> 6 & 7), (_ACL_GROUP_OBJ, mode >> 3 & 7), (_ACL_OTHER, mode & 7)]
        return [(tag, perm, _NO_ID) for tag, perm in minimal], False
    return [struct.unpack_from("<HHI", raw, 4 + 8 * i) for i in range((len(raw) - 4) // 8)], True


def _acl_set(path: Path, uid: int, perm: int | None) -> None:
    """Give uid exactly perm (rwx bits) on path with a named-user ACL entry; perm None removes uid's entry."""
    entries, had = _acl_entries(path)
    if perm is None and not had:
        return
    entries = [e for e in entries if not (e[0] == _ACL_USER and e[2] == uid)]
    group_obj = next(e[1] for e in entries if e[0] == _ACL_GROUP_OBJ)
    mask = next((e[1] for e in entries if e[0] == _ACL_MASK), group_obj)
    entries = [e for e in entries if e[0] != _ACL_MASK]
    if perm is None and not any(e[0] in (_ACL_USER, _ACL_GROUP) for e in entries):
        # Back to plain mode bits: with an ACL the group bits showed the mask, so put group_obj's back.
        mode = os.lstat(path).st_mode & 0o7777
        os.removexattr(path, _ACL, follow_symlinks=False)
        os.chmod(path, mode & ~0o070 | group_obj << 3)
        return
    if perm is not None:
        entries.append((_ACL_USER, perm, uid))
    entries.append((_ACL_MASK, mask | (perm or 0), _NO_ID))  # the mask must let a traverse entry through
    entries.sort(key=lambda e: (e[0], e[2]))
    raw = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    os.setxattr(path, _ACL, raw, follow_symlinks=False)


@contextlib.contextmanager
def _fence_lock() -> Iterator[None]:
    """ACL edits are read-modify-write, and boxes in other grader processes fence the same paths."""
    fd = os.open(_state_dir() / "fence.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- the box -----------------------------------------------------------------------------------------------------


@functools.cache
def _python_layout(python: str) -> tuple[Path, Path, Path]:
    """(prefix, base prefix, the real executable's directory) of `python`: what a box must show for it to start."""
    if python == sys.executable:
        prefixes = [sys.prefix, sys.base_prefix]
    else:
        code = "import sys; print(sys.prefix); print(sys.base_prefix)"  # not -S: site.py sets a venv's prefix
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
        prefixes = out.splitlines()[:2]
    prefix, base = (Path(os.path.abspath(p)) for p in prefixes)
    return prefix, base, Path(os.path.dirname(os.path.realpath(python)))


_serial = itertools.count()  # cgroup names stay unique even if a removal failed


class Box:
    """One box: processes started with popen() run inside it until kill() or close(). A context manager."""

    def __init__(
        self,
        level: Level | str,
        *,
        submission: Path,
        runtime: Path,
        limits: Limits = Limits(),  # frozen, so one shared default is safe
        device: str = "cpu",
        slot: int | None = None,
        python: Path | None = None,
        protect: Sequence[Path] = (),
        _probing: bool = False,
    ) -> None:
        """python: the interpreter argv[0] "python" means (default sys.executable); protect: more paths the
        uid level must hide (the grader's checkout, the submission's siblings and home directories always are)."""
        self.level = Level(level)
        self.limits = limits
        self.device = device
        self.submission = Path(submission).resolve()
        self.runtime = Path(runtime).resolve()
        self.python = Path(os.path.abspath(python or sys.executable))
        self.uid: int | None = None
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._slot_fd: int | None = None
        self._cgroups: _Cgroups | None = None
        self._scratch: Path | None = None  # on the host: levels uid and none
        self._scratch_mounted = False
        self._fenced: list[Path] = []
        try:
            if self.level is Level.NONE:
                self._scratch = Path(tempfile.mkdtemp(prefix="grader-box-scratch-"))
                return
            if not _probing and (reason := probe().refused.get(self.level)):
                raise BoxError(reason)
            slot, self._slot_fd = _take_slot(slot)
            self.uid = UID_BASE + slot
            self._cgroups = _Cgroups(f"grader-box-{self.uid}-{os.getpid()}-{next(_serial)}", limits)
            if self.level is Level.UID:
                self._make_scratch()
                if not _probing:
                    self._fence(protect)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Box:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def paths(self) -> BoxPaths:
        if self.level is Level.NAMESPACES:
            return BoxPaths(Path("/submission"), Path("/box"), Path("/scratch"))
        assert self._scratch is not None
        return BoxPaths(self.submission, self.runtime, self._scratch)

    # -- running ----------------------------------------------------------------------------------------------------

    def popen(
        self,
        argv: Sequence[str | os.PathLike],
        *,
        env: dict[str, str],
        stdin=None,
        stdout=None,
        stderr=None,
        pass_fds: Sequence[int] = (),
    ) -> subprocess.Popen:
        """Start argv in the box, cwd = scratch (also HOME and TMPDIR); argv[0] "python" is the box's interpreter.

        Returns once the box is set up; a failed setup raises BoxError (with the last line of stderr if it is a
        pipe). The process is the target (level uid) or box_init's mirror() of it (level namespaces): either way
        its returncode is the target's, -N for death by signal N, and SIGKILLing it ends the box's main process.
        """
        if self._closed:
            raise BoxError("the box is closed")
        self._procs = [p for p in self._procs if p.poll() is None]  # kill() needs only the live ones
        argv = [str(self.python) if str(argv[0]) == "python" else str(argv[0]), *map(str, argv[1:])]
        scratch = str(self.paths.scratch)
        env = {**env, "HOME": scratch, "TMPDIR": scratch}
        if self.level is Level.NONE:
            proc = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=scratch, env=env, pass_fds=pass_fds,
                start_new_session=True,
            )  # fmt: skip
            self._procs.append(proc)
            return proc
        read_end, write_end = os.pipe()
        cmd = [sys.executable, "-I", "-S", str(_INIT), marshal.dumps(self._config(argv, env, write_end)).hex()]
        try:
            proc = subprocess.Popen(
                cmd, stdin=stdin, stdout=stdout, stderr=stderr, cwd="/", env={}, pass_fds=(*pass_fds, write_end),
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(write_end)
        self._procs.append(proc)
        try:
            status = _read_status(read_end)
        finally:
            os.close(read_end)
        if status != b"\0":
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            detail = status.decode(errors="replace") or f"the box exited with status {proc.returncode} during setup"
            if stderr == subprocess.PIPE and proc.stderr is not None:  # e.g. a Python traceback
                detail = f"{detail}: {_last_line(proc.stderr.read().decode(errors='replace'))}".rstrip(": ")
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            raise BoxError(f"box setup failed: {detail}")
        return proc

    def _config(self, argv: list[str], env: dict[str, str], status_fd: int) -> dict:
        assert self.uid is not None and self._cgroups is not None
        lim = self.limits
        rlimits = {
            "RLIMIT_CPU": (lim.cpu_seconds, lim.cpu_seconds + 1),  # SIGXCPU at the soft limit, SIGKILL a second on
            "RLIMIT_NPROC": (lim.processes, lim.processes),
            "RLIMIT_FSIZE": (lim.file_bytes, lim.file_bytes),
            "RLIMIT_NOFILE": (lim.open_files, lim.open_files),
            "RLIMIT_CORE": (0, 0),
        }
        if not self._cgroups.memory and not self.device.startswith("cuda"):
            rlimits["RLIMIT_DATA"] = (lim.memory_bytes, lim.memory_bytes)
        cfg = {
            "level": str(self.level),
            "uid": self.uid,
            "gid": self.uid,
            "cgroups": self._cgroups.procs_files,
            "rlimits": rlimits,
            "cwd": str(self.paths.scratch),
            "argv": argv,
            "env": env,
            "status_fd": status_fd,
        }
        if self.level is Level.NAMESPACES:
            cfg.update(self._namespace_mounts())
        return cfg

    def _namespace_mounts(self) -> dict:
        binds: list[tuple[str, str]] = []
        symlinks: list[tuple[str, str]] = []

        def shown(path: str) -> bool:  # already in the box through an earlier bind or a recreated symlink
            return any(path == d or path.startswith(d + "/") for _, d in binds) or any(
                path.startswith(link + "/") for link, _ in symlinks
            )

        def add(source: str, target: str) -> None:
            if not shown(target):
                binds.append((os.path.realpath(source), target))

        for path in _SYSTEM:
            if os.path.islink(path):
                symlinks.append((path, os.readlink(path)))
            elif os.path.exists(path):
                add(path, path)
        for d in dict.fromkeys(_python_layout(str(self.python))):  # at the real path, and the given one if it differs
            add(str(d), os.path.realpath(d))
            add(str(d), str(d))
        devices = list(_DEVICES)
        if self.device.startswith("cuda"):
            for path in _host_cuda_binds():
                if path.startswith("/dev/"):
                    devices.append(path)
                else:
                    add(path, path)
        binds += [(str(self.submission), "/submission"), (str(self.runtime), "/box")]
        uid, size = self.uid, self.limits.scratch_bytes
        return {
            "binds": binds,
            "symlinks": symlinks,
            "devices": devices,
            "tmpfs": [
                ("/scratch", f"size={size},mode=0700,uid={uid},gid={uid}"),
                ("/dev/shm", f"size={size},mode=1777"),
            ],
            "files": {
                "/etc/passwd": f"root:x:0:0::/:/usr/sbin/nologin\nbox:x:{uid}:{uid}::/scratch:/usr/sbin/nologin\n",
                "/etc/group": f"root:x:0:\nbox:x:{uid}:\n",
                "/etc/hostname": "box\n",
            },
        }

    # -- level uid --------------------------------------------------------------------------------------------------

    def _make_scratch(self) -> None:
        assert self.uid is not None
        self._scratch = Path(tempfile.mkdtemp(prefix=f"grader-box-{self.uid}-"))
        opts = f"size={self.limits.scratch_bytes},mode=0700,uid={self.uid},gid={self.uid}"
        try:
            box_init.mount("tmpfs", str(self._scratch), "tmpfs", box_init.MS_NOSUID | box_init.MS_NODEV, opts)
            self._scratch_mounted = True
        except OSError:  # no CAP_SYS_ADMIN here: a plain directory, each file capped by RLIMIT_FSIZE only
            os.chown(self._scratch, self.uid, self.uid)

    def _fence(self, extra: Sequence[Path]) -> None:
        assert self.uid is not None and self._scratch is not None
        prefix, base, exe_dir = _python_layout(str(self.python))
        pydirs = [prefix, base, exe_dir]
        allow = [*pydirs, *(Path(os.path.realpath(d)) for d in pydirs), self.submission, self.runtime, self._scratch]
        roots = [Path(__file__).resolve().parents[1], self.submission.parent, Path.home(), Path("/root"), Path("/home")]
        roots += [Path(p).resolve() for p in extra]
        if prefix != base:
            roots.append(prefix.parent)  # a venv: the directory it sits in is often the grader's checkout
        # Directories other users may not cross but the box must: opening them means fencing their other entries.
        roots += [a for path in allow for a in path.parents if a.exists() and not os.stat(a).st_mode & 0o001]
        traverse, deny = _fence_plan(dict.fromkeys(roots), allow)
        with _fence_lock():
            for path, perm in [*((p, 0o1) for p in traverse), *((p, 0) for p in deny)]:
                try:
                    _acl_set(path, self.uid, perm)
                    self._fenced.append(path)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP):
                        raise BoxError(f"cannot fence {path}: {exc.strerror}") from exc
                    mode = os.lstat(path).st_mode & 0o7777  # no ACLs on this filesystem: the "other" bits
                    os.chmod(path, mode & ~0o007 | perm)
        self._verify_fence([*traverse, *deny])

    def _verify_fence(self, hidden: list[Path]) -> None:
        """Run a reader as the box uid: every fenced path must be unreadable; submission, runtime, scratch and
        site-packages readable (a full interpreter start, as the worker's, so site-packages are the venv's)."""
        visible = [str(self.submission), str(self.runtime), str(self._scratch)]
        proc = self.popen(
            ["python", "-I", "-c", _VERIFY],
            env={},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = proc.communicate(json.dumps({"hidden": [str(p) for p in hidden], "visible": visible}).encode(), 60)
        if proc.returncode != 0:
            raise BoxError(f"the box uid cannot run {self.python}: {_last_line(err.decode(errors='replace'))}")
        leaks, missing = json.loads(out)
        if leaks:
            raise BoxError(f"fence incomplete: box uid {self.uid} can read {leaks[0]} ({len(leaks)} paths in all)")
        if missing:
            raise BoxError(f"box uid {self.uid} cannot read {missing[0]}; make it readable by others")

    # -- teardown ---------------------------------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill every process of the box; idempotent, and popen() works again afterwards."""
        # The box's processes first, our own children (level uid's target, namespaces' mirror()) last: that way
        # each dead process's parent is still alive to reap it at once. An orphan is reaped by the host's init
        # instead, which may take seconds, and until then its zombie counts against the box uid's RLIMIT_NPROC.
        if self._cgroups is not None:
            self._cgroups.kill()
        if self.uid is not None:
            _kill_uid(self.uid, zombie_seconds=0)
        for proc in self._procs:
            if self.level is Level.NONE and proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
            try:
                proc.wait(timeout=5)  # mirror() exits by itself once its child, the namespace's PID 1, is dead
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self._procs = [p for p in self._procs if p.returncode is None]
        if self.uid is not None and not _kill_uid(self.uid):
            warnings.warn(
                f"box uid {self.uid}: zombies not reaped yet; NPROC may be short", RuntimeWarning, stacklevel=2
            )

    def close(self) -> None:
        """kill(), then remove the scratch, the cgroups and the fence, and free the slot; never raises."""
        if self._closed:
            return
        self._closed = True
        for step in (self.kill, self._remove_cgroups, self._unfence, self._remove_scratch, self._free_slot):
            try:
                step()
            except Exception as exc:
                warnings.warn(f"box close: {step.__name__}: {exc}", RuntimeWarning, stacklevel=2)

    def _remove_cgroups(self) -> None:
        if self._cgroups is not None:
            self._cgroups.remove()

    def _unfence(self) -> None:
        if self._fenced:
            assert self.uid is not None
            with _fence_lock():
                for path in self._fenced:
                    with contextlib.suppress(FileNotFoundError):
                        _acl_set(path, self.uid, None)
            self._fenced = []

    def _remove_scratch(self) -> None:
        if self._scratch is None:
            return
        if self._scratch_mounted:
            box_init.check(box_init.libc.umount2(str(self._scratch).encode(), box_init.MNT_DETACH), "umount scratch")
            self._scratch_mounted = False
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = None

    def _free_slot(self) -> None:
        if self._slot_fd is not None:
            os.close(self._slot_fd)
            self._slot_fd = None


def _read_status(fd: int) -> bytes:
    """box_init's report: b"\\0" when the target is about to start, else an error line (or b"" if it died first)."""
    data = b""
    deadline = time.monotonic() + _SETUP_SECONDS
    while not data.startswith(b"\0"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BoxError(f"box setup took over {_SETUP_SECONDS:.0f} s")
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data[:1] if data.startswith(b"\0") else data


# --- CLI -----------------------------------------------------------------------------------------------------------


def _bench(runs: int, python: Path, levels: Sequence[Level]) -> None:
    """Median wall time of `python -c pass` per level, rounds interleaved so that machine load hits all alike."""
    refused = probe().refused
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        os.chmod(tmp, 0o755)
        submission, runtime = Path(tmp, "submission"), Path(tmp, "runtime")
        submission.mkdir()
        runtime.mkdir()
        boxes: dict[str, Box | None] = {"plain": None}
        for level in levels:
            if level in refused:
                print(f"{level:<11} {refused[level]}")
                continue
            start = time.perf_counter()
            boxes[level] = stack.enter_context(Box(level, submission=submission, runtime=runtime, python=python))
            print(f"{level:<11} box setup {(time.perf_counter() - start) * 1e3:6.1f} ms")
        times: dict[str, list[float]] = {name: [] for name in boxes}
        for _ in range(runs):
            for name, box in boxes.items():
                start = time.perf_counter()
                if box is None:
                    proc = subprocess.Popen([str(python), "-c", "pass"])
                else:
                    proc = box.popen(["python", "-c", "pass"], env={"PATH": "/usr/bin:/bin"})
                if proc.wait() != 0:
                    raise SystemExit(f"{name}: python -c pass failed")
                times[name].append(time.perf_counter() - start)
    plain = statistics.median(times["plain"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<11} python -c pass {median * 1e3:6.1f} ms, +{(median - plain) * 1e3:5.1f} ms (median of {runs})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.box", description="Probe or benchmark the grader's box.")
    parser.add_argument("--probe", action="store_true", help="print the strongest level here and why others are not")
    parser.add_argument("--bench", type=int, nargs="?", const=5, metavar="N", help="time python -c pass per level")
    parser.add_argument("--python", type=Path, default=Path(sys.executable), help="interpreter for --bench")
    parser.add_argument(
        "--levels",
        type=lambda text: [Level(name) for name in text.split(",")],
        default=list(Level),
        help="comma-separated levels for --bench (default: all; uid fences the grader's checkout while it runs)",
    )
    args = parser.parse_args(argv)
    if not (args.probe or args.bench):
        parser.error("nothing to do: give --probe and/or --bench")
    if args.probe:
        result = probe()
        print(f"best level: {result.best}")
        for line in result.refused.values():
            print(f"  {line}")
    if args.bench:
        _bench(args.bench, args.python, args.levels)


if __name__ == "__main__":
    main()
