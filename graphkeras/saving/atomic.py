"""Atomic writes: a temporary file in the target's folder, renamed over the target
once complete, so a crash or a full disk leaves the previous file intact."""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
import threading

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
            previous = _hold_previous(path)
            try:
                os.replace(tmp, path)
            except BaseException:
                if previous is not None:
                    os.close(previous)
                raise
            if previous is not None:
                _release_later(previous)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------- the replaced file
# Replacing a large file makes the kernel free the previous one's pages and blocks
# (with a ``discard`` mount, TRIM them): milliseconds per 10 MB, spent in the
# ``rename`` that drops its last link. Holding the previous file open across the
# rename moves that work to the ``close`` of the last descriptor, done here by a
# background thread: the save returns once the new file is in place (synced before
# the rename, as always). If the process dies first, the kernel closes the descriptor
# and frees the file: nothing is left behind.
_RELEASE_MIN_BYTES = 2**20  # smaller files cost nothing noticeable to free
_MAX_PENDING = 8            # past this many files waiting, close in line
_release_lock = threading.Lock()
_pending: list[int] = []
_release_thread = None


def _hold_previous(path: str):
    """A read-only descriptor on ``path`` if it is a large regular file (POSIX), else None."""
    if os.name != "posix":
        return None
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size < _RELEASE_MIN_BYTES or st.st_nlink != 1:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):  # unreadable, gone, or no such flags here
        return None
    return fd


def _release_later(fd: int) -> None:
    """Close ``fd`` (a replaced file's last reference) in the background."""
    global _release_thread
    with _release_lock:
        if len(_pending) < _MAX_PENDING:
            _pending.append(fd)
            if _release_thread is None or not _release_thread.is_alive():
                _release_thread = threading.Thread(target=_release_pending, daemon=True,
                                                   name="graphkeras-release-replaced")
                _release_thread.start()
            return
    os.close(fd)


def _release_pending() -> None:
    global _release_thread
    while True:
        with _release_lock:
            if not _pending:
                _release_thread = None
                return
            fd = _pending.pop(0)
        try:
            os.close(fd)
        except OSError:
            pass


def wait_for_released_files() -> None:
    """Block until the replaced files held open are closed (for tests)."""
    while True:
        with _release_lock:
            thread = _release_thread
        if thread is None:
            return
        thread.join()


# ---------------------------------------------------------------- writeback
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
