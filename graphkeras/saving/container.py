"""The container of graphkeras' native format: the members of a save, in a zip file
(``.keras``) or a folder, and ``metadata.json``'s checksums of them.

Writing (:class:`ZipWriter`, :class:`DirWriter`): JSON members are deflated, HDF5
and ONNX members stored. An HDF5 member is laid out by the HDF5 library without its
arrays (:mod:`.h5image`), then written piece by piece — the arrays straight from the
variables' buffers, no intermediate copy — while the disk is asked to start writing
(:func:`.atomic.start_writeback`), so that the save's single ``fsync`` finds little
left to do. Every member's CRC-32 is kept for ``metadata.json``; a large HDF5
member also gets its :mod:`.checked` record.

Reading (:func:`open_archive`): members are size-checked before they are read and
checked against the CRC-32 ``metadata.json`` records before they are parsed; large
HDF5 members are opened in place and their arrays checked as they are read.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import struct
import threading
import zipfile
import zlib

import numpy as np

from graphkeras.saving import checked, h5image
from graphkeras.saving.atomic import WRITEBACK_MIN_BYTES, start_writeback

FORMAT = "graphkeras"
FORMAT_VERSION = 1

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "weights.h5"
RNG = "rng.h5"
OPTIMIZER = "optimizer.h5"
METRICS = "metrics.h5"
TRAINING_CONFIG = "training_config.json"
TRAINING_STATE = "training_state.json"
MANIFEST = "graphs/manifest.json"
GRAPH_FILES = {"predict": "graphs/predict.onnx", "train_step": "graphs/train_step.onnx",
               "test_step": "graphs/test_step.onnx"}
MEMBERS = (METADATA, CONFIG, WEIGHTS, RNG, OPTIMIZER, METRICS, TRAINING_CONFIG, TRAINING_STATE,
           MANIFEST, *GRAPH_FILES.values())

MAX_JSON_BYTES = 256 * 2**20     # a JSON member larger than this is refused
MAX_DEFLATE_RATIO = 1100         # deflate cannot expand data more than ~1032x


# ======================================================================== writing
def check_replaceable_dir(path):
    """Saving to a folder replaces it whole; refuse a folder that holds anything
    but a graphkeras model, so ``model.save(".")`` cannot wipe a project."""
    entries = set(os.listdir(path))
    known = {m.split("/")[0] for m in MEMBERS}
    if entries and (METADATA not in entries or entries - known):
        raise ValueError(f"Cannot save the model to {path!r}: the folder exists and holds files "
                         "that are not part of a graphkeras model (saving replaces the whole "
                         "folder). Choose a new or empty folder, or a `.keras` / `.h5` file name.")


class Writer:
    """Writes members and keeps their CRC-32 (recorded in ``metadata.json``, checked
    before a member is parsed, so a damaged file never reaches the HDF5 library)."""

    def __init__(self):
        self.crc32 = {}
        self.arrays = {}  # large HDF5 members: see graphkeras.saving.checked

    def bytes(self, name, data, compress=False):
        """Member ``name``: bytes, or an :class:`.h5image.H5Image`."""
        self.crc32[name] = self._put(name, data, compress)

    def json(self, name, obj, indent=1):
        self.bytes(name, dumps(obj, indent), compress=True)

    def h5(self, name, fill):
        """An HDF5 member: ``fill(f, put)`` creates its groups and attributes, and its
        datasets with ``put(group, key, array)`` (see :func:`.h5image.build`)."""
        self.bytes(name, h5image.build(fill))

    def _stream(self, name, data, write, fd):
        """Write ``data``'s pieces with ``write`` while another thread sums them (both
        release the GIL, so the CRC-32 overlaps the writing); asks the disk to start
        writing after each large piece. Returns the CRC-32; a large HDF5 member's
        :mod:`.checked` record goes to ``self.arrays``."""
        is_image = isinstance(data, h5image.H5Image)
        pieces = list(data.pieces()) if is_image else [memoryview(data).cast("B")]
        size = data.size if is_image else len(pieces[0])
        want_record = is_image and size >= checked.MIN_BYTES
        result = []

        def sums():
            try:
                if want_record:  # the CRC-32 and the record in one pass
                    result.append(data.checksums())
                    return
                crc = 0
                for piece in pieces:
                    crc = checked.crc32(piece, crc)
                result.append((crc, None))
            except BaseException as err:  # noqa: BLE001 - raised again in the saving thread
                result.append(err)

        thread = None
        if size >= _THREAD_MIN_BYTES:
            thread = threading.Thread(target=sums, name="graphkeras-save-checksums",
                                      daemon=True)
            thread.start()
        try:
            pending = 0  # bytes written since the disk was last asked to start writing
            for piece in pieces:
                for i in range(0, len(piece), _WRITE_CHUNK):  # (one piece may be 100s of MB)
                    chunk = piece[i:i + _WRITE_CHUNK]
                    write(chunk)
                    pending += len(chunk)
                    if pending >= _WRITEBACK_EVERY:
                        start_writeback(fd())
                        pending = 0
        finally:
            if thread is not None:
                thread.join()
        if thread is None:
            sums()
        if isinstance(result[0], BaseException):
            raise result[0]
        crc, record = result[0]
        if record is not None:
            self.arrays[name] = record
        return crc


_THREAD_MIN_BYTES = 2**20  # smaller members are summed in line
_WRITE_CHUNK = 4 * 2**20   # large pieces are written this much at a time,
_WRITEBACK_EVERY = WRITEBACK_MIN_BYTES  # and the disk asked to start writing every this much


class ZipWriter(Writer):
    """Members into an open ``zipfile.ZipFile`` (mode ``"w"``). Stored members are
    written by :meth:`Writer._stream` at the end of the archive with zipfile's own
    local header, rewritten once the CRC-32 is known, and registered with ``zf`` so
    that its central directory lists them."""

    def __init__(self, zf):
        super().__init__()
        self.zf = zf

    def _put(self, name, data, compress):
        info = zipfile.ZipInfo(name, date_time=datetime.datetime.now().timetuple()[:6])
        info.external_attr = 0o644 << 16
        if compress:
            info.compress_type = zipfile.ZIP_DEFLATED
            self.zf.writestr(info, data)
            return self.zf.getinfo(name).CRC  # computed by zipfile as it wrote
        zf, fp = self.zf, self.zf.fp
        info.compress_type = zipfile.ZIP_STORED
        info.CRC = 0
        info.file_size = info.compress_size = \
            data.size if isinstance(data, h5image.H5Image) else memoryview(data).nbytes
        if name in zf.NameToInfo:
            raise ValueError(f"duplicate member {name!r}")
        fp.seek(zf.start_dir)
        info.header_offset = fp.tell()
        header = info.FileHeader()  # zip64 fields when the sizes need them
        fp.write(header)
        info.CRC = self._stream(name, data, fp.write, lambda: (fp.flush(), fp.fileno())[1])
        end = fp.tell()
        if end - info.header_offset - len(header) != info.file_size:
            raise OSError(f"{name!r}: wrote {end - info.header_offset - len(header)} bytes, "
                          f"expected {info.file_size}")
        fp.seek(info.header_offset)
        fp.write(info.FileHeader())
        fp.seek(end)
        zf.filelist.append(info)
        zf.NameToInfo[name] = info
        zf.start_dir = end
        return info.CRC


class DirWriter(Writer):
    """Each member a file, synced to the disk once written (the folder is renamed into
    place once complete: :func:`.atomic.atomic_path`)."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def _put(self, name, data, compress):
        path = os.path.join(self.root, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            crc = self._stream(name, data, f.write, lambda: (f.flush(), f.fileno())[1])
            f.flush()
            os.fsync(f.fileno())
        return crc


def dumps(obj, indent=1) -> bytes:
    """UTF-8 JSON; ``indent=None`` (compact) takes the C encoder, for large members."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
    return json.dumps(obj, indent=indent, default=default).encode("utf-8")


# ======================================================================== reading
@contextlib.contextmanager
def open_archive(filepath):
    if os.path.isdir(filepath):
        yield DirArchive(filepath)
        return
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"Cannot load {filepath!r}: it is neither a graphkeras `.keras` zip "
                         "file, a saved-model folder, nor an HDF5 file.")
    with zipfile.ZipFile(filepath, "r") as zf:
        yield ZipArchive(zf, os.path.getsize(filepath), filepath)


class Archive:
    """Reads members: size-checked, and (once ``metadata.json`` is read) checked
    against the CRC-32 it records."""

    crc32 = None
    arrays = None

    def read(self, name, limit=None, required=True):
        data = self._raw(name, limit)
        if data is None:
            if required:
                raise ValueError(f"{self.where}: there is no {name!r}; this is not a complete "
                                 "graphkeras model.")
            return None
        if self.crc32 is not None and name != METADATA:
            expected = self.crc32.get(name)
            if not isinstance(expected, int) or self._crc(name, data) != expected:
                raise ValueError(f"{self.where}: {name!r} is damaged (its checksum does not "
                                 "match the one recorded in metadata.json).")
        return data

    def json(self, name, required=True):
        data = self.read(name, MAX_JSON_BYTES, required)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"{self.where}: {name!r} is not valid JSON ({err}).") from None

    @contextlib.contextmanager
    def h5(self, name, required=True):
        rec = (self.arrays or {}).get(name) if self.crc32 is not None else None
        window = self._window(name) if rec is not None else None
        if window is not None:  # a large member: opened in place, see graphkeras.saving.checked
            with window:
                size = window.seek(0, io.SEEK_END)
                sums = checked.check_rest(window, rec, size, self.where, name)
                f = self._open_h5(window, name)
                with f, checked.registered(f, sums, self.where, name, window.read_at):
                    f._gk_size = size
                    yield f
            return
        data = self.read(name, None, required)
        if data is None:
            yield None
            return
        f = self._open_h5(io.BytesIO(data), name)
        with f:
            f._gk_size = len(data)
            yield f

    def _open_h5(self, fileobj, name):
        import h5py
        try:
            return h5py.File(fileobj, "r")
        except (OSError, RuntimeError) as err:
            raise ValueError(f"{self.where}: {name!r} is not a valid HDF5 file ({err}).") from None


class ZipArchive(Archive):
    def member_size(self, name):
        """The size member ``name`` declares, or None if there is none."""
        return self.zf.getinfo(name).file_size if name in self.names else None

    def _crc(self, name, data):
        return self.zf.getinfo(name).CRC  # zipfile checked the data against it while reading

    def _window(self, name):
        """The member's bytes in place in the zip file, if it is stored plainly."""
        if name not in self.names:
            return None
        info = self.zf.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or \
                info.compress_size != info.file_size:
            return None  # read (and checked) whole instead
        raw = open(self.where, "rb")
        try:
            raw.seek(info.header_offset)
            header = raw.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise ValueError(f"{self.where}: member {name!r} has no valid local header; the "
                                 "file is corrupt.")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            if start + info.file_size > self.size:
                raise ValueError(f"{self.where}: member {name!r} is truncated or corrupt.")
        except BaseException:
            raw.close()
            raise
        return checked.Window(raw, start, info.file_size)

    def __init__(self, zf, archive_size, where):
        self.zf = zf
        self.size = archive_size
        self.where = where
        self.names = set(zf.namelist())
        if "model.weights.h5" in self.names and WEIGHTS not in self.names:
            raise ValueError(f"{where} is a Keras 3 / tf.keras `.keras` file, not a graphkeras "
                             "one; save it from tf.keras as `.h5` to load it here.")

    def _raw(self, name, limit):
        if name not in self.names:
            return None
        info = self.zf.getinfo(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{self.where}: member {name!r} uses an unsupported compression "
                             f"method ({info.compress_type}).")
        if info.flag_bits & 0x1:
            raise ValueError(f"{self.where}: member {name!r} is encrypted.")
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else MAX_DEFLATE_RATIO
        if info.compress_size > self.size or info.file_size > max(info.compress_size, 1) * ratio \
                or (limit is not None and info.file_size > limit):
            raise ValueError(f"{self.where}: member {name!r} declares a size of "
                             f"{info.file_size} bytes, which the file cannot hold; refusing it.")
        with self.zf.open(info) as f:  # zipfile checks the member's CRC at its end
            data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise ValueError(f"{self.where}: member {name!r} is truncated or corrupt.")
        return data


class DirArchive(Archive):
    @staticmethod
    def _crc(name, data):
        return zlib.crc32(data)

    def member_size(self, name):
        path = os.path.join(self.root, *name.split("/"))
        return os.path.getsize(path) if os.path.isfile(path) else None

    def __init__(self, root):
        self.root = root
        self.where = root

    def _window(self, name):
        path = os.path.join(self.root, *name.split("/"))
        if not os.path.isfile(path):
            return None
        raw = open(path, "rb")
        return checked.Window(raw, 0, os.fstat(raw.fileno()).st_size)

    def _raw(self, name, limit):
        path = os.path.join(self.root, *name.split("/"))
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if limit is not None and size > limit:
                raise ValueError(f"{self.where}: {name!r} is {size} bytes, more than allowed "
                                 f"({limit}).")
            return f.read()


def read_metadata(archive):
    metadata = archive.json(METADATA)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{archive.where}: {METADATA} does not describe a graphkeras model.")
    if not isinstance(metadata.get("crc32"), dict):
        raise ValueError(f"{archive.where}: {METADATA} lacks the members' checksums.")
    archive.crc32 = metadata["crc32"]
    archive.arrays = metadata.get("arrays") if isinstance(metadata.get("arrays"), dict) else {}
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{archive.where}: invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(f"{archive.where} was written by a newer graphkeras (format version "
                         f"{version}; this one reads up to {FORMAT_VERSION}). Upgrade graphkeras.")


