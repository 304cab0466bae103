"""First stage of a grader box: runs as root, builds the box, drops to the box uid, execs the target.

grader/box.py starts it as ``python -I -S box_init.py CONFIG`` (CONFIG: a marshalled dict, in hex). It is trusted
code that imports only the standard library (never the project, which the box must not see) and is itself
invisible inside the box. Level "uid": it joins the box's cgroups, sets rlimits, drops privileges and execs the
target. Level "namespaces": it unshares mount/PID/network/IPC/UTS namespaces and forks; the parent stays outside
as the process the grader holds (mirror()), the child is PID 1 of the new PID namespace: it joins the cgroups,
builds the box's root, drops to the box uid, forks the target, and stays as its reaper (reap()).

It reports on the status pipe named in the config: one line of text if setup failed (then it exits 125), or a single
NUL byte just before exec'ing the target, so the parent knows the box is complete before it returns the process.
"""

import ctypes
import marshal
import os
import resource
import signal
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
CLONE_NEWCGROUP = 0x02000000
# mount, UTS, IPC, PID, network: everything but user (see box.py) and cgroup (joined first, then unshared)
NAMESPACES = 0x20000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000
# Every namespace flag clone/unshare accept: time, mount, cgroup, UTS, IPC, user, PID, network.
CLONE_NEW_ANY = 0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 22, 24, 38
SECCOMP_MODE_FILTER = 2

# audit arch, syscall numbers, and whether the arch has an x32 ABI whose numbers carry bit 30.
ARCHES = {
    "x86_64": (0xC000003E, {"pivot_root": 155, "clone": 56, "unshare": 272, "setns": 308, "clone3": 435}, True),
    "aarch64": (0xC00000B7, {"pivot_root": 41, "clone": 220, "unshare": 97, "setns": 268, "clone3": 435}, False),
}


def check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [s.encode() if s is not None else None for s in (source, target, fstype, data)]
    check(libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


def bind_readonly(source: str, target: str, *, devices: bool = False) -> None:
    """Bind source at target, then remount the bind read-only and nosuid (and nodev unless it is a device node)."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()  # a file bind needs an existing file to mount over
    mount(source, target, None, MS_BIND)
    # The first MS_BIND ignores flags; read-only etc. only stick on a remount of the bind.
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | (0 if devices else MS_NODEV))


def pivot_root(new_root: str, put_old: str) -> None:
    if os.uname().machine not in ARCHES:  # glibc has no wrapper; add the syscall numbers of another arch above
        raise RuntimeError(f"pivot_root: syscall number unknown on {os.uname().machine}")
    number = ARCHES[os.uname().machine][1]["pivot_root"]
    check(libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def build_root(cfg: dict) -> None:
    """Make a fresh tmpfs the root holding only the configured mounts, the way bubblewrap does it.

    The pivot happens first, into a scratch tmpfs on /tmp, so every source is then reached as /oldroot/<realpath>
    and no source can be hidden by the new mounts; the final pivot into /newroot plus a lazy unmount of the old root
    leaves nothing of the host reachable, not even by a chroot escape.
    """
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700")
    os.chdir("/tmp")
    os.mkdir("newroot")
    os.mkdir("oldroot")
    mount("tmpfs", "newroot", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    pivot_root(".", "oldroot")
    os.chdir("/")
    new = "/newroot"
    for link, target in cfg["symlinks"]:
        os.makedirs(os.path.dirname(new + link), exist_ok=True)
        os.symlink(target, new + link)
    for source, target in cfg["binds"]:
        bind_readonly("/oldroot" + source, new + target)
    for node in cfg["devices"]:
        bind_readonly("/oldroot" + node, new + node, devices=True)
    os.makedirs(f"{new}/dev", exist_ok=True)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{fd}", f"{new}/dev/{name}")
    os.symlink("/proc/self/fd", f"{new}/dev/fd")
    for target, options in cfg["tmpfs"]:
        os.makedirs(new + target, exist_ok=True)
        mount("tmpfs", new + target, "tmpfs", MS_NOSUID | MS_NODEV, options)
    os.makedirs(f"{new}/proc")
    # This process is PID 1 of the new PID namespace, so this proc shows the box's processes only.
    mount("proc", f"{new}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path, text in cfg["files"].items():
        os.makedirs(os.path.dirname(new + path), exist_ok=True)
        with open(new + path, "w") as f:
            f.write(text)
    check(libc.umount2(b"/oldroot", MNT_DETACH), "umount /oldroot")
    os.chdir(new)
    pivot_root(".", ".")  # stacks the old root on top of the new one (pivot_root(2) NOTES) ...
    check(libc.umount2(b".", MNT_DETACH), "umount old root")  # ... so that this removes it
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def deny_namespaces() -> None:
    """Install a seccomp filter failing unshare/setns/clone-with-CLONE_NEW* with EPERM, the policy of Docker's default.

    clone3 fails with ENOSYS because seccomp cannot read its flags from memory; libc then falls back to clone.
    Unknown architectures get no filter (this is defence in depth, not the boundary).
    """
    arch = ARCHES.get(os.uname().machine)
    if arch is None:
        return
    audit_arch, nr, has_x32 = arch
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    prog = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, audit_arch),
        (ret, 0, 0, eperm),  # another ABI (i386 on x86_64): nothing of ours uses it
        (ld, 0, 0, 0),  # seccomp_data.nr
        (jge, 0, 1, 0x40000000 if has_x32 else 0xFFFFFFFF),
        (ret, 0, 0, eperm),  # the x32 ABI
        (jeq, 5, 0, nr["unshare"]),
        (jeq, 4, 0, nr["setns"]),
        (jeq, 4, 0, nr["clone3"]),
        (jeq, 0, 4, nr["clone"]),
        (ld, 0, 0, 16),  # low 32 bits of args[0], clone's flags
        (jset, 0, 2, CLONE_NEW_ANY),
        (ret, 0, 0, eperm),
        (ret, 0, 0, enosys),
        (ret, 0, 0, allow),
    ]
    code = b"".join(struct.pack("HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.addressof(buf))
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def drop_privileges(cfg: dict) -> None:
    # Empty the capability bounding set first (needs CAP_SETPCAP, so while still root): with no_new_privs this
    # makes sure no later exec can hand a capability back.
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # EINVAL: past the last capability this kernel knows
    os.setgroups([])
    os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
    os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])  # from root to non-root: clears every capability set
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if cfg["level"] == "namespaces":
        # Changing uid cleared the parent-death signal; re-arm it, so that mirror() dying kills this PID 1, and
        # with it the whole namespace.
        check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    deny_namespaces()


def find_program(name: str, env: dict) -> str:
    candidates = [name] if "/" in name else [f"{d}/{name}" for d in env.get("PATH", "/usr/bin:/bin").split(":") if d]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"no program {name!r} the box uid may run in the box")


def mirror(child: int, report: int) -> None:
    """Be the process the grader holds, outside the box: wait for the box's PID 1, then end as the target ended.

    It holds none of the target's fds (the grader sees EOF when the target closes), and SIGKILLing it takes the
    box down through PID 1's parent-death signal.
    """
    os.closerange(0, report)
    os.closerange(report + 1, 1 << 30)
    target = os.read(report, 4)  # the target's wait status, or nothing if PID 1 died first (setup error, killed)
    _, status = os.waitpid(child, 0)
    if len(target) == 4:
        status = int.from_bytes(target, "little")
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) != signal.SIGKILL:  # which cannot be handled, nor its handler set
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def reap(main_pid: int, report: int) -> None:
    """Stay PID 1 of the box (the target is PID 2, with the usual signal semantics), reaping orphans; when the
    target ends, report its wait status to mirror() and exit, which makes the kernel kill the whole namespace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only SIGKILL from outside ends this
    os.closerange(0, report)  # not to hold the target's pipes open
    os.closerange(report + 1, 1 << 30)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == main_pid:
            os.write(report, status.to_bytes(4, "little"))
            os._exit(0)


def main() -> None:
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))  # marshal, not json: json's import costs ~7 ms
    status = cfg["status_fd"]
    os.set_inheritable(status, False)  # the target must not inherit it; exec closes it
    boxed = cfg["level"] == "namespaces"
    try:
        if boxed:
            check(libc.unshare(NAMESPACES), "unshare")
            mount(None, "/", None, MS_REC | MS_PRIVATE)  # no mount of ours propagates to the host
            report_read, report_write = os.pipe()
            if child := os.fork():  # the child is PID 1 of the new PID namespace
                os.close(report_write)
                mirror(child, report_read)
            os.close(report_read)
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        for procs in cfg["cgroups"]:  # before the rest, so that all of it is accounted to the box
            with open(procs, "w") as f:
                f.write("0")  # "0" moves the writer itself
        if boxed:
            if cfg["cgroups"]:
                libc.unshare(CLONE_NEWCGROUP)  # best effort: /proc/self/cgroup then shows "/", not the host path
            build_root(cfg)
            name = b"box"
            check(libc.sethostname(name, len(name)), "sethostname")
        for name, (soft, hard) in cfg["rlimits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        drop_privileges(cfg)
        os.chdir(cfg["cwd"])
        program = find_program(cfg["argv"][0], cfg["env"])
        if boxed and (target := os.fork()):
            os.close(status)
            reap(target, report_write)
    except Exception as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.errno and exc.strerror else str(exc)
        if isinstance(exc, OSError) and exc.filename:
            detail += f": {exc.filename}"
        os.write(status, f"{detail}".replace("\n", " ").encode())
        os._exit(125)
    # Python ignores these two; an ignored disposition survives exec, and the target should start as usual.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.write(status, b"\0")
    try:
        os.execve(program, cfg["argv"], cfg["env"])
    except OSError as exc:
        print(f"box: cannot run {program}: {exc}", file=sys.stderr)
        os._exit(127)


if __name__ == "__main__":
    main()
