"""Checking a large HDF5 member of a native save without a pass over all its bytes.

A member's CRC-32 costs a full pass over it before it is parsed — for weights that
is more than reading them. A large member is therefore recorded in ``metadata.json``
(``"arrays": {member: record}``) as:

* ``extents``: ``[[offset, length, sum64], ...]``, the byte ranges of the member that
  hold its datasets' raw data (contiguous storage), each with the sum of its
  little-endian 64-bit words (zero-padded) modulo 2**64;
* ``crc32_rest``: the CRC-32 of every other byte — the HDF5 superblock, object
  headers, attributes and heaps, everything the HDF5 library parses.

At load time the rest is checked *before* the HDF5 library sees the member (so, as
with the full CRC, a damaged header never reaches it); the member is then opened in
place (a window on the zip file or the folder's file, no copy), and each array is
checked against its sum once it has been read (:func:`verify_array`). An array whose
extent the record lists, stored plainly (contiguous, no filter, the memory type's
exact byte layout), is read by :func:`read_verified` straight from the file into its
destination — the HDF5 library has located it and checked its type and shape; the
record has bounded its extent — rather than through the library's file-object
driver. Damage anywhere in the member is refused with ``ValueError``.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
import zlib

import numpy as np

MIN_BYTES = 4 * 2**20  # smaller members keep the plain CRC-32 of all their bytes

_lock = threading.Lock()
_open_sums: dict = {}  # HDF5 file number -> (sums, where, name, reader or None)


# ------------------------------------------------------------------ writing
_FAST_CRC_MIN_BYTES = 2**16
_fast_crc32 = None  # looked up at the first use: libdeflate's function, or False


def _lookup_fast_crc32():
    """libdeflate's ``libdeflate_crc32`` (the same CRC-32 as zlib's, several times
    faster: it uses the CPU's carry-less multiply) when the system has the library
    and it agrees with zlib on a test vector; else False."""
    try:
        import ctypes
        import ctypes.util
        name = ctypes.util.find_library("deflate")
        if not name:
            return False
        fn = ctypes.CDLL(name).libdeflate_crc32  # (CDLL: the GIL is released in the call)
        fn.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]
        fn.restype = ctypes.c_uint32
        probe = bytes(range(256)) * 300
        if fn(12345, probe, len(probe)) != zlib.crc32(probe, 12345):
            return False
        return fn
    except (OSError, AttributeError, TypeError, ValueError):
        return False


def crc32(data, value=0) -> int:
    """``zlib.crc32(data, value)``, computed by libdeflate for large buffers when the
    system has it (a save's CRC-32 of its arrays takes a pass over all their bytes)."""
    global _fast_crc32
    view = memoryview(data)
    if view.nbytes >= _FAST_CRC_MIN_BYTES:
        if _fast_crc32 is None:
            _fast_crc32 = _lookup_fast_crc32()
        if _fast_crc32:
            array = np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B"
                                  else view, np.uint8)
            return _fast_crc32(value & 0xFFFFFFFF, array.ctypes.data, array.nbytes)
    return zlib.crc32(view, value)


def sum64(data) -> int:
    """Sum of the little-endian 64-bit words of ``data`` (bytes-like or a contiguous
    array; the last word zero-padded), modulo 2**64."""
    b = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else \
        np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    n8 = len(b) // 8 * 8
    total = int(np.add.reduce(b[:n8].view("<u8"), dtype=np.uint64)) if n8 else 0
    if n8 < len(b):
        total += int.from_bytes(b[n8:].tobytes(), "little")
    return total % 2**64


def array_extents(f) -> list[tuple[int, int]]:
    """``(offset, length)`` of every dataset's contiguous raw data in HDF5 file ``f``."""
    import h5py
    out = []

    def visit(_, obj):
        if isinstance(obj, h5py.Dataset):
            offset = obj.id.get_offset()
            length = obj.id.get_storage_size()
            if offset is not None and length:
                out.append((int(offset), int(length)))
    f.visititems(visit)
    return sorted(out)


def record(data, extents) -> dict:
    """The ``metadata.json`` record of member bytes ``data`` with these extents."""
    view = memoryview(data).cast("B")
    rows, crc, pos = [], 0, 0
    for offset, length in extents:
        if offset < pos:  # overlapping: cannot happen in a file h5py wrote; check all of it
            return {"extents": [], "crc32_rest": zlib.crc32(view)}
        crc = zlib.crc32(view[pos:offset], crc)
        rows.append([offset, length, sum64(view[offset:offset + length])])
        pos = offset + length
    crc = zlib.crc32(view[pos:], crc)
    return {"extents": rows, "crc32_rest": crc}


# ------------------------------------------------------------------ reading
_preadv = getattr(os, "preadv", None)


class Window(io.RawIOBase):
    """Read-only file object over ``length`` bytes of ``raw`` from ``offset``: a zip
    member stored without compression, or a whole file, opened in place."""

    def __init__(self, raw, offset, length):
        super().__init__()
        self._raw, self._base, self._length, self._pos = raw, offset, length, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(base + pos, 0)
        return self._pos

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        n = max(min(len(view), self._length - self._pos), 0)
        if n == 0:
            return 0
        self._raw.seek(self._base + self._pos)
        got = self._raw.readinto(view[:n]) or 0
        self._pos += got
        return got

    def read_at(self, offset, buffer) -> None:
        """Fill ``buffer`` (writable, bytes-like) with the bytes at ``offset`` of the
        window (positioned reads: the file position is left alone)."""
        view = memoryview(buffer).cast("B")
        n = len(view)
        if offset < 0 or offset + n > self._length:
            raise ValueError("read outside the member")
        fd, pos, done = self._raw.fileno(), self._base + offset, 0
        while done < n:
            if _preadv is not None:
                got = _preadv(fd, [view[done:]], pos + done)
            else:  # no positioned reads here: seek the shared file object
                self._raw.seek(pos + done)
                got = self._raw.readinto(view[done:]) or 0
            if not got:
                raise ValueError("unexpected end of data")
            done += got

    def close(self):
        try:
            self._raw.close()
        finally:
            super().close()


def check_rest(window, rec, size, where, name) -> dict:
    """Check a member's record (its form, and the CRC-32 of the bytes outside the
    extents) before the member is parsed; returns ``{offset: (length, sum64)}``."""
    damaged = ValueError(f"{where}: {name!r} is damaged (its checksum does not match the one "
                         "recorded in metadata.json).")
    if not isinstance(rec, dict) or not isinstance(rec.get("extents"), list) or \
            not isinstance(rec.get("crc32_rest"), int):
        raise damaged
    sums, crc, pos = {}, 0, 0
    for row in rec["extents"]:
        if not (isinstance(row, list) and len(row) == 3 and
                all(isinstance(v, int) and not isinstance(v, bool) for v in row)):
            raise damaged
        offset, length, total = row
        if offset < pos or length <= 0 or offset + length > size or not 0 <= total < 2**64:
            raise damaged
        crc = _crc_range(window, pos, offset, crc)
        sums[offset] = (length, total)
        pos = offset + length
    if _crc_range(window, pos, size, crc) != rec["crc32_rest"]:
        raise damaged
    return sums


def _crc_range(window, start, stop, crc, chunk=2**20):
    window.seek(start)
    buffer = bytearray(min(chunk, max(stop - start, 0)))
    while start < stop:
        n = window.readinto(memoryview(buffer)[:min(chunk, stop - start)])
        if not n:
            raise ValueError("unexpected end of data")
        crc = zlib.crc32(memoryview(buffer)[:n], crc)
        start += n
    return crc


@contextlib.contextmanager
def registered(f, sums, where, name, reader=None):
    """While HDF5 file ``f`` is open, :func:`verify_array` checks its arrays;
    ``reader(offset, buffer)`` (:meth:`Window.read_at`) lets :func:`read_verified`
    read the extents the record lists straight from the member's bytes."""
    key = f.id.fileno
    with _lock:
        _open_sums[key] = (sums, where, name, reader)
    try:
        yield f
    finally:
        with _lock:
            _open_sums.pop(key, None)


def verify_array(ds, raw) -> None:
    """Check ``raw`` (dataset ``ds`` just read, in the file's dtype) against the sum
    its member recorded; nothing to do for members checked by their whole CRC-32."""
    entry = _open_sums.get(ds.id.fileno)
    if entry is None:
        return
    sums, where, name, _ = entry
    nbytes = raw.nbytes
    if nbytes == 0:
        return
    recorded = sums.get(ds.id.get_offset())
    if recorded is None or recorded[0] != nbytes or sum64(raw) != recorded[1]:
        raise ValueError(f"{where}: {name!r} is damaged (dataset {ds.name!r} does not match the "
                         "checksum recorded in metadata.json).")


def read_verified(ds, out) -> None:
    """Read dataset ``ds`` (shape checked by the caller) into ``out`` (a C-contiguous
    array of ``ds``'s shape) and check it (:func:`verify_array`). An array of a
    checked member that is stored plainly is read straight from the file: its bytes
    are the array's (contiguous storage without filters, and a file type equal to
    ``out``'s native type), at the extent the record lists for its offset."""
    entry = _open_sums.get(ds.id.fileno)
    if entry is not None and entry[3] is not None and out.nbytes and out.flags.c_contiguous \
            and out.flags.writeable and out.dtype.isnative and out.dtype == ds.dtype:
        sums, where, name, reader = entry
        dsid = ds.id
        offset = dsid.get_offset()
        recorded = sums.get(offset) if offset is not None else None
        if recorded is not None and recorded[0] == out.nbytes == dsid.get_storage_size() and \
                _plain_storage(dsid, out.dtype):
            reader(offset, out.reshape(-1).view(np.uint8))
            if sum64(out) != recorded[1]:
                raise ValueError(f"{where}: {name!r} is damaged (dataset {ds.name!r} does not "
                                 "match the checksum recorded in metadata.json).")
            return
    ds.read_direct(out)
    verify_array(ds, out)


def _plain_storage(dsid, dtype) -> bool:
    """Whether dataset ``dsid``'s bytes in the file are a C-order ``dtype`` array."""
    import h5py
    try:
        dcpl = dsid.get_create_plist()
        return dcpl.get_layout() == h5py.h5d.CONTIGUOUS and dcpl.get_nfilters() == 0 and \
            dcpl.get_external_count() == 0 and \
            dsid.get_type().equal(h5py.h5t.py_create(dtype))
    except (TypeError, ValueError, RuntimeError, KeyError):  # a type h5py cannot map
        return False
