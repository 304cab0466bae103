"""Make this process look like it runs in a container whose seccomp profile forbids namespaces (Docker's default).

``install()`` loads a seccomp filter, inherited by every child, under which unshare, setns and clone with any
CLONE_NEW* flag fail with EPERM, and clone3 with ENOSYS (its flags are out of a filter's reach; libc falls back to
clone). Deliberately independent of grader/box_init.py's in-box filter: this simulates the host, not the box.
"""

import ctypes
import platform
import struct

# audit arch; unshare, setns, clone, clone3 syscall numbers
_ARCHES = {"x86_64": (0xC000003E, 272, 308, 56, 435), "aarch64": (0xC00000B7, 97, 268, 220, 435)}
_CLONE_NEW = 0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def supported() -> bool:
    return platform.machine() in _ARCHES


def install() -> None:
    arch, unshare, setns, clone, clone3 = _ARCHES[platform.machine()]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    prog = [
        (ld, 0, 0, 4),  # arch
        (jeq, 1, 0, arch),
        (ret, 0, 0, allow),  # another ABI: not what this simulates
        (ld, 0, 0, 0),  # syscall number
        (jeq, 5, 0, unshare),
        (jeq, 4, 0, setns),
        (jeq, 4, 0, clone3),
        (jeq, 0, 4, clone),
        (ld, 0, 0, 16),  # clone flags: low half of args[0]
        (jset, 0, 2, _CLONE_NEW),
        (ret, 0, 0, eperm),
        (ret, 0, 0, enosys),
        (ret, 0, 0, allow),
    ]
    code = b"".join(struct.pack("HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0):  # NO_NEW_PRIVS; SECCOMP filter
        raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")
