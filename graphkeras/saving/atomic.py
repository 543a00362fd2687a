"""Atomic writes: a temporary file in the target's folder, renamed over the target
once complete, so a crash or a full disk leaves the previous file intact."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

_UMASK = os.umask(0)  # read once (os.umask can only be read by setting it)
os.umask(_UMASK)


def _default_mode(path: str, directory: bool) -> int:
    """The previous file's permissions, or what a plain ``open``/``mkdir`` would give
    (mkstemp/mkdtemp create 0600/0700)."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o7777
    return (0o777 if directory else 0o666) & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str, directory: bool = False):
    """Yield a temporary path (file, or folder with ``directory=True``) next to
    ``path``; on success it replaces ``path``, on error it is removed."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if directory:
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    else:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=parent)
        os.close(fd)
    mode = _default_mode(path, directory)
    try:
        yield tmp
        if directory:  # its writer synced each file it wrote; now the folders' entries
            for root, _, _ in os.walk(tmp):
                _fsync_dir(root)
        else:
            fsync_path(tmp)
        os.chmod(tmp, mode)
        if directory and os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=".old-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


_SYNC_FILE_RANGE_WRITE = 2
WRITEBACK_MIN_BYTES = 2**20  # start the disk writing after each piece of at least this size
_sync_file_range = None  # looked up at the first use: a function, or False where there is none


def _lookup_sync_file_range():
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    for name in (None, "libc.so.6"):  # None: the symbols already loaded (libc's among them)
        try:
            fn = ctypes.CDLL(name, use_errno=True).sync_file_range
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    return False


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing ``fd``'s dirty pages to the disk now, without
    waiting (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``), so that the disk works
    while the rest of the file is produced and the final ``fsync`` has less left to
    wait for. Only a hint: elsewhere, or on any error, it does nothing."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = _lookup_sync_file_range()
    if _sync_file_range and fd is not None and fd >= 0:
        _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fsync_path(path)
    except OSError:  # a platform or file system that cannot sync a folder
        pass


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
