"""The fast paths of saving and loading (issue 5) give exactly what the plain ones give:
libdeflate's CRC-32, the one-pass checksums of an HDF5 member, arrays of checked members
read straight from the file, the low-level lookups of dataset paths, members that list
nothing written and read without the HDF5 library, and the replaced file released in
the background."""
import os
import zlib

import h5py
import numpy as np
import pytest

import graphkeras as gk
from graphkeras.saving import atomic, checked, h5image, state


# ------------------------------------------------------------------ checksums
@pytest.mark.parametrize("fast", [True, False])
def test_crc32_matches_zlib(monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(checked, "_fast_crc32", False)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 3 * 2**20 + 13, dtype=np.uint8)
    for piece in (data, data[:5], data[:2**16], data[7:2**17 + 3], memoryview(data)[1:]):
        for start in (0, 1, 0xFFFFFFFF, zlib.crc32(b"abc")):
            assert checked.crc32(piece, start) == zlib.crc32(piece, start)
    floats = rng.random((300, 301))  # a 2-d buffer of 8-byte items
    assert checked.crc32(floats) == zlib.crc32(floats)
    assert checked.crc32(b"") == 0


def test_one_pass_checksums_match_the_record_and_the_crc():
    rng = np.random.default_rng(1)
    pairs = [("a/kernel", rng.random((700, 1001)).astype(np.float32)),  # not a chunk multiple
             ("a/bias", rng.random(13)), ("scalar", np.float64(3.5)),
             ("odd", np.arange(13, dtype=np.int8)), ("empty", np.zeros((0, 4), np.float32)),
             ("big", rng.random((3, 2**19)))]
    image = h5image.build(lambda f, put: state.write_named(f, put, pairs))
    crc = 0
    for piece in image.pieces():
        crc = zlib.crc32(piece, crc)
    assert image.checksums() == (crc, image.record())
    assert len(image.record()["extents"]) >= 5


def test_plain_storage_is_recognised(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("le", data=np.arange(6, dtype="<f4"))
        f.create_dataset("be", data=np.arange(6, dtype=">f4"))
        f.create_dataset("chunked", data=np.arange(600, dtype="<f4"), chunks=(100,),
                         compression="gzip")
        f.create_dataset("flags", data=np.array([True, False]))
    with h5py.File(path, "r") as f:
        assert checked._plain_storage(f["le"].id, np.dtype("<f4"))
        assert checked._plain_storage(f["flags"].id, np.dtype(bool))
        assert not checked._plain_storage(f["be"].id, np.dtype("<f4"))
        assert not checked._plain_storage(f["chunked"].id, np.dtype("<f4"))


# ------------------------------------------------------------------ direct reads
def _model(units=48):
    model = gk.Sequential([gk.layers.Dense(units, input_shape=(40,)), gk.layers.Dense(3)])
    model.set_weights([np.random.default_rng(i).normal(size=w.shape).astype(w.dtype)
                       for i, w in enumerate(model.get_weights())])
    return model


@pytest.mark.parametrize("name", ["m.keras", "m_dir"])
def test_checked_arrays_are_read_straight_from_the_file(tmp_path, monkeypatch, name):
    monkeypatch.setattr(checked, "MIN_BYTES", 0)  # every HDF5 member takes the checked path
    model = _model()
    path = tmp_path / name
    model.save(path)
    reads, read_at = [], checked.Window.read_at

    def spy(self, offset, buffer):
        reads.append(memoryview(buffer).nbytes)
        return read_at(self, offset, buffer)

    monkeypatch.setattr(checked.Window, "read_at", spy)
    loaded = gk.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sorted(reads) == sorted(w.nbytes for w in model.get_weights())


def test_window_reads_stay_inside_the_member(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    window = checked.Window(open(path, "rb"), 10, 50)
    buffer = bytearray(5)
    window.read_at(45, buffer)
    assert bytes(buffer) == bytes(range(55, 60))
    with pytest.raises(ValueError):
        window.read_at(46, buffer)
    window.close()


def test_dataset_paths_through_datasets_or_dots_are_refused(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=np.zeros(3, "f4"))
        f.create_dataset("g/b", data=np.zeros(3, "f4"))
        f.create_group("g/sub")
        state.write_index(f, ["n"], ["g/b"])
    with h5py.File(path, "r") as f:
        f._gk_size = os.path.getsize(path)
        names, datasets = state.named_datasets(f, "w", "weights.h5")
        assert names == ["n"] and datasets[0].name == "/g/b" and datasets[0].shape == (3,)
    for key, message in (("a/x", "no dataset"), ("g/./b", "no dataset"), ("g//b", "no dataset"),
                         ("/g/b", "no dataset"), ("g/missing", "no dataset"),
                         ("g/sub", "not a dataset")):
        with h5py.File(path, "r+") as f:
            state.write_index(f, ["n"], [key])
        with h5py.File(path, "r") as f:
            f._gk_size = os.path.getsize(path)
            with pytest.raises(ValueError, match=message):
                state.named_datasets(f, "w", "weights.h5")


# ------------------------------------------------------------------ the replaced file
def _open_deleted():
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith(" (deleted)"):
            out.append(target)
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_replaced_file_is_released_in_the_background(tmp_path, name):
    model = _model(units=8000)  # weights of more than _RELEASE_MIN_BYTES
    path = tmp_path / name
    model.save(path)
    first = os.stat(path).st_ino
    model.set_weights([w + 1 for w in model.get_weights()])
    model.save(path)
    assert os.stat(path).st_ino != first
    atomic.wait_for_released_files()
    assert not [t for t in _open_deleted() if str(tmp_path) in t]
    assert sorted(os.listdir(tmp_path)) == [name]
    for a, b in zip(gk.models.load_model(path).get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_failed_replace_closes_the_previous_file(tmp_path, monkeypatch):
    model = _model(units=8000)
    path = tmp_path / "m.keras"
    model.save(path)
    before = len(os.listdir("/proc/self/fd"))

    def failing(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(atomic.os, "replace", failing)
    with pytest.raises(OSError, match="rename failed"):
        model.save(path)
    monkeypatch.undo()
    assert len(os.listdir("/proc/self/fd")) == before
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]
    gk.models.load_model(path)


def test_small_and_odd_targets_are_replaced_in_line(tmp_path):
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    assert atomic._hold_previous(str(small)) is None
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 * atomic._RELEASE_MIN_BYTES))
    link = tmp_path / "link"
    link.symlink_to(big)
    assert atomic._hold_previous(str(link)) is None
    assert atomic._hold_previous(str(tmp_path / "missing")) is None
    fd = atomic._hold_previous(str(big))
    assert fd is not None
    atomic._release_later(fd)
    atomic.wait_for_released_files()
    assert not atomic._pending


# ------------------------------------------------------------------ members that list nothing
def test_members_listing_nothing_are_written_once_and_not_parsed(tmp_path, monkeypatch):
    import zipfile

    from graphkeras.saving import container, native
    model = _model()
    path = tmp_path / "m.keras"
    model.save(path)
    fresh = h5image.build(lambda f, put: state.write_rng(f, put, []))
    with zipfile.ZipFile(path) as zf:
        for member in ("rng.h5", "metrics.h5"):
            assert zf.read(member) == b"".join(fresh.pieces())
    opened, h5 = [], container.Archive.h5

    def spy(self, name, required=True):
        opened.append(name)
        return h5(self, name, required)

    monkeypatch.setattr(container.Archive, "h5", spy)
    gk.models.load_model(path)
    assert opened == ["weights.h5"]
    # a model with a random generator writes and reads its rng.h5 as before
    dropout = gk.Sequential([gk.layers.Dense(4, input_shape=(3,)), gk.layers.Dropout(0.5)])
    dropout.save(tmp_path / "d.keras")
    opened.clear()
    gk.models.load_model(tmp_path / "d.keras")
    assert opened == ["weights.h5", "rng.h5"]
    with zipfile.ZipFile(tmp_path / "d.keras") as zf:
        assert zf.read("rng.h5") != b"".join(native._empty_index().pieces())
