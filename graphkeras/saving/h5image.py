"""An HDF5 member of a native save, written without copying its arrays.

:func:`build` lets the HDF5 library lay the file out — groups, attributes, dataset
headers — into an in-memory sparse file, with every dataset created with its space
allocated but not written (``H5D_ALLOC_TIME_EARLY``, ``H5D_FILL_TIME_NEVER``): the
library only ever writes the metadata, a few kilobytes. The arrays themselves stay
where they are (the variables' own buffers); :meth:`H5Image.pieces` yields the
member's bytes in order — metadata, then each array's buffer at its dataset's
offset — to be written straight into the zip file or the folder, and
:meth:`H5Image.record` gives the checksums :mod:`.checked` verifies at load time,
computed from the same buffers. The result is byte for byte the file h5py would
have written with ``create_dataset(key, data=array)``, minus the fill values.
"""
from __future__ import annotations

import bisect
import io
import zlib

import numpy as np

from graphkeras.saving import checked

_ZEROS = bytes(2**20)
_CHUNK = 2**20  # bytes of an array checksummed at a time (kept in the cache between sums)


class _SparseFile(io.RawIOBase):
    """A seekable in-memory file that keeps only the bytes written to it (sorted,
    merged segments); reads of unwritten bytes give zeros."""

    def __init__(self):
        super().__init__()
        self._pos = 0
        self._starts: list[int] = []
        self._segments: dict[int, bytearray] = {}
        self.size = 0

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(base + pos, 0)
        return self._pos

    def write(self, data):
        data = memoryview(data).cast("B")
        n, pos = len(data), self._pos
        if not n:
            return 0
        starts, segments = self._starts, self._segments
        i = bisect.bisect_right(starts, pos) - 1
        if i >= 0 and starts[i] + len(segments[starts[i]]) >= pos:
            start = starts[i]
            segment = segments[start]
            segment[pos - start:pos - start + n] = data
        else:
            i += 1
            start, segment = pos, bytearray(data)
            starts.insert(i, start)
            segments[start] = segment
        end = start + len(segment)
        while i + 1 < len(starts) and starts[i + 1] <= end:  # merge what it reaches
            nxt = starts.pop(i + 1)
            tail = segments.pop(nxt)
            if nxt + len(tail) > end:
                segment += tail[end - nxt:]
                end = start + len(segment)
        self._pos = pos + n
        self.size = max(self.size, self._pos)
        return n

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        pos = self._pos
        n = max(min(len(view), self.size - pos), 0)
        view[:n] = _zeros_like(n)
        for start in self._starts:
            segment = self._segments[start]
            lo, hi = max(start, pos), min(start + len(segment), pos + n)
            if lo < hi:
                view[lo - pos:hi - pos] = segment[lo - start:hi - start]
        self._pos += n
        return n

    def truncate(self, size=None):
        size = self._pos if size is None else int(size)
        for start in [s for s in self._starts if s >= size]:
            self._starts.remove(start)
            del self._segments[start]
        if self._starts:
            last = self._starts[-1]
            del self._segments[last][size - last:]
        self.size = size
        return size

    def segments(self):
        return [(s, self._segments[s]) for s in self._starts]


def _zeros_like(n):
    return _ZEROS[:n] if n <= len(_ZEROS) else bytes(n)


class H5Image:
    """The bytes of an HDF5 file: metadata segments (bytes) and arrays (buffers, each
    at its dataset's offset); gaps between them are zeros. ``extents`` lists every
    dataset's raw data, ``[(offset, uint8 array)]``, streamed arrays and those the
    library wrote itself alike."""

    def __init__(self, segments, arrays, size, extents):
        self._segments = segments          # [(offset, bytes)]
        self._arrays = arrays              # [(offset, uint8 array)], not in any segment
        self._extents = sorted(extents, key=lambda t: t[0])
        self.size = size

    def _walk(self):
        """``(offset, buffer)`` covering ``[0, size)`` in order."""
        items = sorted(self._segments + self._arrays, key=lambda t: t[0])
        pos = 0
        for offset, buffer in items:
            while pos < offset:
                n = min(offset - pos, len(_ZEROS))
                yield pos, memoryview(_ZEROS)[:n]
                pos += n
            yield offset, memoryview(buffer)
            pos = offset + len(buffer)
        while pos < self.size:
            n = min(self.size - pos, len(_ZEROS))
            yield pos, memoryview(_ZEROS)[:n]
            pos += n

    def pieces(self):
        for _, buffer in self._walk():
            yield buffer

    def checksums(self) -> tuple[int, dict]:
        """The CRC-32 of all the bytes and :meth:`record`, in one pass: each array,
        a piece of its own, is summed chunk by chunk while the chunk is in the cache
        from its CRC-32."""
        streamed = {o: len(a) for o, a in self._arrays}
        sums, crc, rest = {}, 0, []
        for pos, buffer in self._walk():
            n = len(buffer)
            if n and streamed.get(pos) == n:
                total = 0
                for i in range(0, n, _CHUNK):  # (multiples of 8: the words stay aligned)
                    chunk = buffer[i:i + _CHUNK]
                    crc = checked.crc32(chunk, crc)
                    total += checked.sum64(chunk)
                sums[pos] = total % 2**64
            else:
                crc = checked.crc32(buffer, crc)
                rest.append((pos, buffer))
        return crc, self._record(rest, sums)

    def record(self) -> dict:
        return self._record(list(self._walk()), {})

    def _record(self, walked, known_sums) -> dict:
        """The :mod:`.checked` record: every dataset's extent with its sum (from the
        arrays' own buffers), and the CRC-32 of every other byte."""
        spans = [(o, o + len(a)) for o, a in self._extents]
        crc, j = 0, 0
        for pos, buffer in walked:
            end, p = pos + len(buffer), pos
            while p < end:
                while j < len(spans) and spans[j][1] <= p:
                    j += 1
                if j < len(spans) and spans[j][0] <= p:
                    p = min(spans[j][1], end)
                    continue
                stop = min(end, spans[j][0]) if j < len(spans) else end
                crc = zlib.crc32(buffer[p - pos:stop - pos], crc)
                p = stop
        extents = [[offset, len(a), known_sums[offset] if offset in known_sums else
                    checked.sum64(a)] for offset, a in self._extents]
        return {"extents": extents, "crc32_rest": crc}


def build(fill) -> H5Image:
    """The HDF5 file ``fill(f, put)`` describes: ``fill`` gets the open ``h5py.File``
    and ``put(group, key, array)``, which creates dataset ``key`` in ``group`` for
    ``array`` (C-contiguous; not copied, written later from its own buffer) and
    returns it."""
    import h5py
    sparse = _SparseFile()
    arrays, extents = [], []
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)

    def put(group, key, array):
        array = np.asarray(array)
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array).reshape(array.shape)  # (keeps a 0-d shape)
        ds = group.create_dataset(key, shape=array.shape, dtype=array.dtype, dcpl=dcpl)
        raw = array.reshape(-1).view(np.uint8)
        offset = ds.id.get_offset()
        if offset is not None and array.nbytes and ds.id.get_storage_size() == array.nbytes:
            arrays.append((int(offset), raw))
            extents.append((int(offset), raw))
        elif array.size:  # space not allocated yet (a scalar): the library writes it
            ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, array)
            offset = ds.id.get_offset()
            if offset is not None and ds.id.get_storage_size() == array.nbytes:
                extents.append((int(offset), raw))
        return ds

    with h5py.File(sparse, "w") as f:
        fill(f, put)
    segments = sparse.segments()
    size = max([sparse.size] + [o + len(a) for o, a in arrays])
    spans = sorted([(o, o + len(b)) for o, b in segments] + [(o, o + len(a)) for o, a in arrays])
    if any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])):
        return _plain(fill)  # the library wrote into a dataset's space: cannot happen, but
    return H5Image(segments, arrays, size, extents)  # then the member is written plainly


def _plain(fill) -> H5Image:
    """The member written by h5py with its data, into memory."""
    import h5py
    buffer = io.BytesIO()

    def put(group, key, array):
        return group.create_dataset(key, data=array)

    with h5py.File(buffer, "w") as f:
        fill(f, put)
        f.flush()
        spans = checked.array_extents(f)
    data = buffer.getvalue()
    view = np.frombuffer(data, np.uint8)
    return H5Image([(0, data)], [], len(data), [(o, view[o:o + n]) for o, n in spans])
