"""The box holds against hostile code: each test runs a small attack inside a box and checks it fails from outside.

The world: a temp dir playing the grader's checkout (a secret, and a venv inside it that the box runs), a folder of
submissions (the one under test and a sibling to steal from), and a runtime folder. Levels the machine cannot
provide (not root, namespaces refused) are skipped with probe()'s reason, never passed.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.box import UID_BASE, Box, BoxError, Level, Limits, MiB, _acl_set, _fence_plan, _uid_pids, cuda_binds, probe
from tests import seccomp_no_namespaces

ROOT = Path(__file__).resolve().parents[1]
ISOLATED = [Level.NAMESPACES, Level.UID]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the box is Linux-only")


@dataclass
class World:
    checkout: Path
    secret: Path
    python: Path  # the venv's interpreter, inside the checkout
    submission: Path
    other: Path  # another student's submission
    runtime: Path


@pytest.fixture
def world(tmp_path: Path) -> World:
    checkout = tmp_path / "checkout"
    venv = checkout / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages").mkdir(parents=True)
    # What `python -m venv --without-pip` makes, without the seconds it takes: a config file and a symlink.
    base = Path(os.path.realpath(sys._base_executable))
    (venv / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    (venv / "bin" / "python").symlink_to(base)
    secret = checkout / "secret.txt"
    secret.write_text("hidden test answers")
    submission = tmp_path / "submissions" / "alice"
    submission.mkdir(parents=True)
    (submission / "adapters.py").write_text("ANSWER = 42\n")
    other = tmp_path / "submissions" / "bob"
    other.mkdir()
    (other / "adapters.py").write_text("ANSWER = 'worth copying'\n")
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "worker.py").write_text("print('worker')\n")
    return World(checkout, secret, venv / "bin" / "python", submission, other, runtime)


def _available(level: Level) -> None:
    if reason := probe().refused.get(level):
        pytest.skip(reason)


@pytest.fixture(params=ISOLATED, ids=str)
def level(request: pytest.FixtureRequest) -> Level:
    _available(request.param)
    return request.param


@pytest.fixture
def make_box(world: World, level: Level):
    boxes: list[Box] = []

    def make(**kwargs) -> Box:
        kwargs.setdefault("python", world.python)
        box = Box(level, submission=world.submission, runtime=world.runtime, **kwargs)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.close()


def run(box: Box, code: str, *args: object, timeout: float = 30) -> tuple[int, str, str]:
    proc = box.popen(
        ["python", "-I", "-c", code, *map(str, args)],
        env={"PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def run_json(box: Box, code: str, *args: object, **kwargs) -> object:
    rc, out, err = run(box, code, *args, **kwargs)
    assert rc == 0, err
    return json.loads(out)


CAN_READ = """
import json, os, sys
def can_read(p):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            open(p, "rb").close()
        return True
    except OSError:
        return False
print(json.dumps({p: can_read(p) for p in sys.argv[1:]}))
"""

LISTINGS = """
import json, os, sys
out = {}
for p in sys.argv[1:]:
    try:
        out[p] = os.listdir(p)
    except OSError:
        pass
print(json.dumps(out))
"""

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
    print("connected")
except OSError as e:
    print(type(e).__name__)
"""

SIGNAL = """
import json, os, sys
out = {}
for pid in map(int, sys.argv[1:]):
    try:
        os.kill(pid, 0)
        out[pid] = "signalled"
    except OSError as e:
        out[pid] = type(e).__name__
print(json.dumps(out))
"""

CAN_WRITE = """
import json, sys
def can_write(p):
    try:
        with open(p, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
print(json.dumps({p: can_write(p) for p in sys.argv[1:]}))
"""


# --- identity ------------------------------------------------------------------------------------------------------


def test_runs_as_its_own_unprivileged_uid_without_capabilities(make_box) -> None:
    code = (
        "import json, os; s = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines());"
        "print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), s['CapEff'], s['CapBnd'],"
        " s['NoNewPrivs'], s['Seccomp']]))"
    )
    first, second = make_box(), make_box()
    uid, euid, gid, groups, cap_eff, cap_bnd, nnp, seccomp = run_json(first, code)
    assert uid == euid == gid == first.uid >= UID_BASE
    assert uid not in (0, os.getuid())
    assert groups == []
    assert int(cap_eff, 16) == int(cap_bnd, 16) == 0
    assert nnp == "1" and seccomp == "2"
    assert run_json(second, code)[0] == second.uid != first.uid  # concurrent boxes never share a uid


def test_the_box_cannot_make_namespaces(make_box) -> None:
    code = (
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True);"
        "print(libc.unshare(0x10000000), ctypes.get_errno() == 1)"  # CLONE_NEWUSER: capabilities in a new userns
    )
    assert run(make_box(), code)[1].split() == ["-1", "True"]


# --- what the box sees -----------------------------------------------------------------------------------------------


def test_grader_files_and_other_submissions_are_hidden(make_box, world: World, level: Level) -> None:
    box = make_box()
    hidden = [world.secret, world.other, world.other / "adapters.py", ROOT / "pyproject.toml", ROOT / "grader"]
    shown = [box.paths.submission / "adapters.py", box.paths.runtime / "worker.py", box.paths.scratch]
    result = run_json(box, CAN_READ, *hidden, *shown)
    assert result == {str(p): False for p in hidden} | {str(p): True for p in shown}
    listed = run_json(box, LISTINGS, world.checkout, "/root")
    if level is Level.UID:
        assert listed == {}  # fenced: crossable on the way to the venv, never listable
    else:  # only the empty directories leading to what is bound
        assert listed[str(world.checkout)] == [".venv"]
        base = Path(sys.base_prefix)
        assert all(Path("/root", entry) in [base, *base.parents] for entry in listed.get("/root", []))


def test_the_venv_is_shown_but_not_the_checkout_around_it(make_box, world: World, level: Level) -> None:
    code = "import json, os, sys; print(json.dumps([sys.prefix, os.path.exists(sys.argv[1])]))"
    prefix, secret_exists = run_json(make_box(), code, world.secret)
    assert prefix == str(world.python.parent.parent)
    if level is Level.NAMESPACES:
        assert not secret_exists  # not merely unreadable: not there
        top = set(run_json(make_box(), "import os, json; print(json.dumps(os.listdir('/')))"))
        system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc"}
        assert top <= system | {"box", "submission", "scratch", "root", "tmp"}  # root, tmp: on the way to the venv


def test_proc_shows_only_the_box(make_box, level: Level) -> None:
    if level is Level.UID:
        pytest.skip("level uid shares the host's /proc (documented)")
    code = "import json, os; print(json.dumps({p: os.stat('/proc/' + p).st_uid for p in os.listdir('/proc')}))"
    box = make_box()
    processes = {pid: uid for pid, uid in run_json(box, code).items() if pid.isdigit()}
    assert processes == {"1": box.uid, "2": box.uid}  # box_init as PID 1 (see reap()), and this


def test_no_network(make_box, level: Level) -> None:
    if level is Level.UID:
        pytest.skip("level uid does not stop the network (documented)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        rc, out, _ = run(make_box(), CONNECT, port)
    assert rc == 0 and out.strip() != "connected"


def test_writes_outside_scratch_fail(make_box, world: World, level: Level) -> None:
    box = make_box()
    outside = [box.paths.submission / "x", box.paths.runtime / "x", world.checkout / "x", world.other / "x"]
    if level is Level.NAMESPACES:
        outside += ["/x", "/tmp/x", "/usr/x", "/dev/shm/../x"]
    inside = [box.paths.scratch / "x", "/dev/null"]
    expected = {str(p): False for p in outside} | {str(p): True for p in inside}
    assert run_json(box, CAN_WRITE, *outside, *inside) == expected


# --- limits --------------------------------------------------------------------------------------------------------


WRITE_BIG = """
import sys
try:
    with open("big", "wb") as f:
        f.write(b"x" * int(sys.argv[1]))
    print("wrote")
except OSError as e:
    print(e.errno)
"""


def test_scratch_size_is_capped(make_box) -> None:
    rc, out, err = run(make_box(limits=Limits(scratch_bytes=1 * MiB)), WRITE_BIG, 4 * MiB)
    assert rc == 0, err
    assert out.strip() in (str(errno.ENOSPC), str(errno.EFBIG))


def test_file_size_is_capped(make_box) -> None:
    assert run(make_box(limits=Limits(file_bytes=100_000)), WRITE_BIG, 200_000)[1].strip() == str(errno.EFBIG)


def test_open_files_are_capped(make_box) -> None:
    code = (
        "fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\nexcept OSError as e:\n    print(e.errno)"
    )
    assert run(make_box(limits=Limits(open_files=20)), code)[1].strip() == str(errno.EMFILE)


def test_cpu_seconds_are_capped(make_box) -> None:
    start = time.monotonic()
    rc, _, _ = run(make_box(limits=Limits(cpu_seconds=1)), "while True: pass", timeout=20)
    assert rc != 0 and time.monotonic() - start < 10


MEMORY_HOG = """
chunks = []
try:
    for _ in range(64):
        chunks.append(b"x" * (16 << 20))  # written, so really resident
    print("got 1 GiB")
except MemoryError:
    print("MemoryError")
"""

FORK_BOMB = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            os.close(1)  # so that the parent's output ends when it does
            os.close(2)
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError:
    print(n)
"""


def test_memory_is_capped(make_box) -> None:
    rc, out, _ = run(make_box(limits=Limits(memory_bytes=128 * MiB)), MEMORY_HOG)
    assert "got 1 GiB" not in out
    assert out.strip() == "MemoryError" or rc == -signal.SIGKILL  # the OOM killer


def test_fork_bomb_is_bounded(make_box) -> None:
    box = make_box(limits=Limits(processes=24))
    rc, out, err = run(box, FORK_BOMB)
    assert rc == 0, err
    assert 0 < int(out) < 24
    box.kill()
    assert _uid_pids(box.uid) == []


def test_without_writable_cgroups_rlimits_still_bound_memory_and_processes(make_box, monkeypatch) -> None:
    monkeypatch.setattr("grader.box._own_cgroups", dict)  # a host where no cgroup hierarchy is writable
    box = make_box(limits=Limits(memory_bytes=128 * MiB, processes=24))
    assert box._cgroups.dirs == []
    assert run(box, MEMORY_HOG)[1].strip() == "MemoryError"  # RLIMIT_DATA
    rc, out, err = run(box, FORK_BOMB)  # RLIMIT_NPROC, per box uid
    assert rc == 0 and 0 < int(out) < 24, err
    box.kill()
    assert _uid_pids(box.uid) == []


# --- signals and teardown --------------------------------------------------------------------------------------------

DAEMON = """
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, b"x")
        time.sleep(600)
    os._exit(0)
os.read(r, 1)
print("ready", flush=True)
if sys.argv[1] == "wait":
    time.sleep(600)
"""


def _start_daemon(box: Box, wait: str) -> subprocess.Popen:
    proc = box.popen(["python", "-I", "-c", DAEMON, wait], env={}, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def test_kill_reaches_setsid_double_forked_daemons(make_box) -> None:
    box = make_box()
    _start_daemon(box, "wait")
    assert len(_uid_pids(box.uid)) >= 2  # the worker and its daemon
    box.kill()
    assert _uid_pids(box.uid) == []
    assert run(box, "print('again')")[1] == "again\n"  # a crashed worker can be restarted in the same box


def test_namespace_dies_with_the_worker(make_box, level: Level) -> None:
    if level is Level.UID:
        pytest.skip("in level uid a daemon outlives the worker until kill() (documented)")
    box = make_box()
    _start_daemon(box, "exit").wait(10)
    deadline = time.monotonic() + 5
    while _uid_pids(box.uid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _uid_pids(box.uid) == []


def test_cannot_signal_the_grader(make_box) -> None:
    result = run_json(make_box(), SIGNAL, os.getpid(), os.getppid())
    assert set(result.values()) <= {"ProcessLookupError", "PermissionError"}


def test_close_removes_scratch_cgroups_fence_and_slot(make_box, world: World, level: Level) -> None:
    box = make_box()
    _start_daemon(box, "wait")
    uid, scratch, cgroups = box.uid, box._scratch, list(box._cgroups.dirs)
    box.close()
    box.close()  # idempotent
    assert _uid_pids(uid) == []
    assert not any(d.exists() for d in cgroups)
    assert scratch is None or not scratch.exists()
    for path in (world.secret, world.checkout, world.other):
        with pytest.raises(OSError):
            os.getxattr(path, "system.posix_acl_access")  # the fence is gone with the box
    assert oct(world.secret.stat().st_mode & 0o777) == "0o644"
    Box(level, submission=world.submission, runtime=world.runtime, python=world.python, slot=uid - UID_BASE).close()
    with pytest.raises(BoxError, match="closed"):
        box.popen(["python"], env={})


def test_pipes_and_pass_fds(make_box) -> None:
    read_end, write_end = os.pipe()
    code = "import os, sys; sys.stdout.write(sys.stdin.readline().upper()); os.write(int(sys.argv[1]), b'side')"
    argv = ["python", "-I", "-c", code, str(write_end)]
    proc = make_box().popen(argv, env={}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=[write_end])
    os.close(write_end)
    out, _ = proc.communicate(b"hello\n", timeout=30)
    assert out == b"HELLO\n" and os.read(read_end, 10) == b"side"
    os.close(read_end)


def test_returncode_is_the_targets(make_box) -> None:
    box = make_box()
    assert run(box, "raise SystemExit(7)")[0] == 7
    assert run(box, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")[0] == -signal.SIGTERM


def test_setup_failures_raise_box_error(make_box) -> None:
    with pytest.raises(BoxError, match="no program"):
        make_box().popen(["no-such-program"], env={})


# --- torch, levels, probe --------------------------------------------------------------------------------------------


def test_torch_runs_in_a_namespaces_box(world: World) -> None:
    _available(Level.NAMESPACES)
    with Box(Level.NAMESPACES, submission=world.submission, runtime=world.runtime) as box:
        rc, out, err = run(box, "import torch; print(float((torch.ones(4, 4) @ torch.ones(4)).sum()))", timeout=120)
    assert (rc, out, err) == (0, "16.0\n", "")


def test_level_none_runs_trusted_code_with_the_same_api(world: World) -> None:
    with Box(Level.NONE, submission=world.submission, runtime=world.runtime) as box:
        scratch = box.paths.scratch
        assert run(box, "import os; print(os.getcwd())")[1].strip() == str(scratch)
        _start_daemon(box, "wait")
        box.kill()
    assert not scratch.exists()


def test_probe_names_the_best_level_and_one_line_reasons() -> None:
    result = probe()
    assert result.best not in result.refused
    assert all("\n" not in reason and reason for reason in result.refused.values())
    if os.geteuid() == 0:
        assert result.best in (Level.NAMESPACES, Level.UID)
    assert probe() is result  # cached per process


def test_probe_without_root_offers_level_none_only(world: World, monkeypatch) -> None:
    monkeypatch.setattr("grader.box.os.geteuid", lambda: 1000)
    try:
        result = probe(refresh=True)
        assert result.best is Level.NONE and set(result.refused) == {Level.NAMESPACES, Level.UID}
        assert all("not root" in reason for reason in result.refused.values())
        with pytest.raises(BoxError, match="not root"):
            Box(Level.UID, submission=world.submission, runtime=world.runtime)
    finally:
        monkeypatch.undo()
        probe(refresh=True)


def test_probe_under_docker_like_seccomp_refuses_namespaces_but_uid_works(world: World) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: level uid is what should survive the seccomp filter")
    if not seccomp_no_namespaces.supported():
        pytest.skip("the seccomp simulation knows x86_64 and aarch64 only")
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom tests.seccomp_no_namespaces import install\ninstall()\n"
        "from grader.box import Box, probe\np = probe()\n"
        "with Box('uid', submission=Path(sys.argv[1]), runtime=Path(sys.argv[2]), python=Path(sys.argv[3])) as box:\n"
        " proc = box.popen(['python', '-I', '-c', 'import os; print(os.getuid())'], env={}, stdout=-1)\n"
        " uid = int(proc.communicate()[0])\n"
        "print(json.dumps([p.best, p.refused, uid, box.uid]))"
    )
    argv = [sys.executable, "-c", code, world.submission, world.runtime, world.python]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    best, refused, uid, box_uid = json.loads(done.stdout)
    assert best == "uid" and uid == box_uid
    assert list(refused) == ["namespaces"]
    assert "\n" not in refused["namespaces"] and "Operation not permitted" in refused["namespaces"]


def test_cuda_binds_lists_only_nvidia_nodes_and_driver_libraries() -> None:
    dev = ["null", "nvidia0", "nvidia10", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-caps",
           "nvidia-modeset", "dri", "tty", "shm"]  # fmt: skip
    ldconfig = """3 libs found in cache `/etc/ld.so.cache'
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12
\tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1
\tlibcuda.so (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so
"""
    assert cuda_binds(dev, ldconfig) == [
        "/dev/nvidiactl",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm-tools",
        "/dev/nvidia-caps",
        "/dev/nvidia0",
        "/dev/nvidia2",
        "/dev/nvidia10",
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        "/usr/local/nvidia/lib64/libcuda.so.1",
        "/usr/local/nvidia/lib64/libcuda.so",
    ]
    assert cuda_binds(["null", "zero"], "") == []


def test_fence_plan_crosses_only_towards_allowed_paths(tmp_path: Path) -> None:
    for path in ("checkout/.venv/bin", "checkout/tools", "subs/alice", "subs/bob"):
        (tmp_path / path).mkdir(parents=True)
    (tmp_path / "checkout" / "secret.txt").write_text("x")
    (tmp_path / "checkout" / "link").symlink_to("/etc")
    allow = [tmp_path / "checkout" / ".venv", tmp_path / "subs" / "alice"]
    traverse, deny = _fence_plan([tmp_path / "checkout", tmp_path / "subs", tmp_path / "elsewhere"], allow)
    assert traverse == [tmp_path / "checkout", tmp_path / "subs"]
    assert deny == [tmp_path / "checkout" / "secret.txt", tmp_path / "checkout" / "tools", tmp_path / "subs" / "bob"]


def test_acl_fence_entries_come_off_without_a_trace(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("ACLs naming another uid need root")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    try:
        _acl_set(private, UID_BASE + 999, 0o1)  # crossable by that uid: widens the mask
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs on {tmp_path}: {exc.strerror}")
    assert private.stat().st_mode & 0o777 == 0o710  # with an ACL, the group bits show the mask
    _acl_set(private, UID_BASE + 999, None)
    assert private.stat().st_mode & 0o777 == 0o700
    with pytest.raises(OSError):
        os.getxattr(private, "system.posix_acl_access")


def test_a_cuda_box_binds_the_nvidia_nodes_and_driver_libraries_outside_usr(world: World, monkeypatch) -> None:
    _available(Level.NAMESPACES)
    listed = ("/dev/nvidiactl", "/dev/nvidia0", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/opt/nvidia/libcuda.so.1")
    monkeypatch.setattr("grader.box._host_cuda_binds", lambda: listed)
    with Box(Level.NAMESPACES, submission=world.submission, runtime=world.runtime, device="cuda") as box:
        mounts = box._namespace_mounts()
    assert mounts["devices"][-2:] == ["/dev/nvidiactl", "/dev/nvidia0"]
    targets = [target for _, target in mounts["binds"]]
    assert "/opt/nvidia/libcuda.so.1" in targets  # outside every other bind: bound on its own
    assert not any(t.startswith("/usr/lib") for t in targets)  # already in the box with /usr


def test_output_ends_when_the_worker_closes_it(make_box) -> None:
    code = "import os, sys, time; sys.stdout.write('bye'); sys.stdout.flush(); os.close(1); time.sleep(30)"
    proc = make_box().popen(["python", "-I", "-c", code], env={}, stdout=subprocess.PIPE)
    start = time.monotonic()
    assert proc.stdout.read() == b"bye"  # EOF now: nothing else in the box (PID 1 included) holds the pipe
    assert time.monotonic() - start < 10
    proc.kill()
    proc.wait()
