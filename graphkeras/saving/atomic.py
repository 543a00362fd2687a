"""Atomic writes: a temporary file in the target's folder, renamed over the target
once complete, so a crash or a full disk leaves the previous file intact."""
from __future__ import annotations

import contextlib
import os
import shutil
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
        if not directory:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
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


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
