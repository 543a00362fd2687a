"""graphkeras' own format: ``model.save("m.keras")`` (zip) and ``model.save("dir")``.

Round trips (functional with Adam and Dropout, subclassed with and without its
class), exact continuation of training after a save and load, the members and
the graph manifest (checked by running the saved train step on a bare ONNX
Runtime session), atomic writes, and refusal of corrupt or hostile files.
"""
import builtins
import io
import json
import marshal
import os
import pickle
import shutil
import struct
import zipfile
import zlib

import h5py
import numpy as np
import pytest

import graphkeras as gk
from graphkeras.models.traced import TracedModel
from graphkeras.saving import native

X = np.random.default_rng(0).random((48, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")


class ModuleSub(gk.Model):
    """A subclassed model whose class is importable (this module is imported)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = gk.layers.Dense(6, activation="relu")
        self.d2 = gk.layers.Dense(1)

    def call(self, x, training=False):
        return self.d2(self.d1(x))


def _local_class():
    class LocalSub(gk.Model):  # not reachable by module and name: loads as a TracedModel
        def __init__(self):
            super().__init__()
            self.d1 = gk.layers.Dense(6, activation="tanh")
            self.d2 = gk.layers.Dense(1)

        def call(self, x, training=False):
            return self.d2(self.d1(x))
    return LocalSub


def _functional():
    inp = gk.Input((4,))
    h = gk.layers.Dense(8, activation="relu")(inp)
    h = gk.layers.Dropout(0.25)(h)
    return gk.Model(inp, gk.layers.Dense(1)(h))


def _fresh(build, seed=0):
    gk.backend.clear_session()
    gk.utils.set_random_seed(seed)
    model = build()
    model.compile(gk.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


def _fit(model, epochs):
    model.fit(X, Y, batch_size=16, epochs=epochs, verbose=0)  # shuffled, seeded


def _resume_matches(build, path, custom_objects=None, expect=None):
    """N epochs, save, load, M more == N + M epochs without the save (bit for bit)."""
    straight = _fresh(build)
    _fit(straight, 3)
    model = _fresh(build)
    _fit(model, 1)
    model.save(path)
    loaded = gk.models.load_model(path, custom_objects=custom_objects)
    if expect is not None:
        assert type(loaded) is expect
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert int(loaded.optimizer.iterations.numpy()) == 3
    # metric accumulators come back too
    assert [m.name for m in loaded.metrics] == ["loss", "mae"]
    for a, b in zip(model.metrics, loaded.metrics):
        for va, vb in zip(a.weights, b.weights):
            assert np.array_equal(va.numpy(), vb.numpy())
    _fit(loaded, 2)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    assert len(loaded.get_weights()) == len(straight.get_weights())
    return model, loaded


@pytest.mark.parametrize("suffix", [".keras", "_dir"])
def test_functional_adam_dropout_resumes_exactly(tmp_path, suffix):
    model, loaded = _resume_matches(_functional, str(tmp_path / f"m{suffix}"))
    assert loaded.to_json() == model.to_json()


def test_subclassed_reloads_as_its_class(tmp_path):
    _, loaded = _resume_matches(ModuleSub, str(tmp_path / "s.keras"), expect=ModuleSub)
    assert loaded.name == "module_sub"


def test_subclassed_without_its_class_predicts_and_trains(tmp_path):
    LocalSub = _local_class()
    _, loaded = _resume_matches(LocalSub, str(tmp_path / "s.keras"), expect=TracedModel)
    assert loaded._original_class == "LocalSub"
    # saved again, the IR model keeps the original class name, and with the class passed
    # in custom_objects it comes back as that class
    loaded.save(str(tmp_path / "again"))
    again = gk.models.load_model(str(tmp_path / "again"), custom_objects={"LocalSub": LocalSub})
    assert type(again) is LocalSub
    np.testing.assert_array_equal(again.predict(X, verbose=0), loaded.predict(X, verbose=0))


def test_subclassed_with_class_in_custom_objects_resumes(tmp_path):
    LocalSub = _local_class()
    _resume_matches(LocalSub, str(tmp_path / "s_dir"), custom_objects={"LocalSub": LocalSub},
                    expect=LocalSub)


def test_members_metadata_and_manifest(tmp_path):
    model = _fresh(_functional)
    _fit(model, 1)
    model.evaluate(X, Y, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert names == {"metadata.json", "config.json", "weights.h5", "rng.h5", "metrics.h5",
                         "optimizer.h5", "training_config.json", "graphs/manifest.json",
                         "graphs/predict.onnx", "graphs/train_step.onnx", "graphs/test_step.onnx"}
        meta = json.loads(zf.read("metadata.json"))
        manifest = json.loads(zf.read("graphs/manifest.json"))
        assert json.loads(zf.read("config.json")) == json.loads(model.to_json())
    assert meta["format"] == "graphkeras" and meta["format_version"] == native.FORMAT_VERSION
    assert meta["graphkeras_version"] == gk.__version__ and "date_saved" in meta
    train = manifest["graphs"]["train_step"]
    roles = {t["name"]: t["role"] for t in train["inputs"]}
    assert roles["input_1"] == "data" and roles["y"] == "target"
    assert roles["dense/kernel"] == "weight" and roles["Adam/m/dense/kernel"] == "optimizer"
    assert roles["iteration"] == "counter" and roles["dropout/seed_generator"] == "rng"
    assert "metric" in roles.values()
    assert train["feedback"]["dense/kernel/new"] == "dense/kernel"
    assert set(train["feedback"].values()) <= set(roles)
    assert {t["role"] for t in manifest["graphs"]["test_step"]["inputs"]} >= {"data", "target",
                                                                               "weight", "metric"}
    predict = manifest["graphs"]["predict"]  # the weights are inputs, stored once: weights.h5
    assert predict["weights"] == "inputs" and manifest["version"] == 2
    assert [t["role"] for t in predict["inputs"]] == ["data"] + ["weight"] * len(model.weights)
    assert [t["source"] for t in predict["inputs"][1:]] == [
        {"member": "weights.h5", "key": w.name} for w in model.weights]


def _state_from_members(folder, entry):
    """Each state input's value, read from the member the manifest names."""
    state = {}
    for t in entry["inputs"]:
        if t["role"] in ("data", "target", "sample_weight"):
            continue
        if t["source"] is None:
            state[t["name"]] = np.asarray(t["value"], t["dtype"])
            continue
        with h5py.File(os.path.join(folder, t["source"]["member"]), "r") as f:
            state[t["name"]] = np.asarray(f[t["source"]["key"]][()], t["dtype"])
    return state


def test_saved_train_step_runs_on_bare_onnxruntime(tmp_path):
    import onnxruntime as ort
    model = _fresh(_functional)
    _fit(model, 1)
    folder = str(tmp_path / "m")
    model.save(folder)
    entry = json.load(open(os.path.join(folder, "graphs", "manifest.json")))["graphs"]["train_step"]
    state = _state_from_members(folder, entry)
    session = ort.InferenceSession(os.path.join(folder, "graphs", "train_step.onnx"),
                                   providers=["CPUExecutionProvider"])
    xb, yb = X[:16], Y[:16]
    for _ in range(2):
        outs = session.run(None, {"input_1": xb, "y": yb, **state})
        new = dict(zip([o["name"] for o in entry["outputs"]], outs))
        state.update({inp: new[out] for out, inp in entry["feedback"].items()})
    loaded = gk.models.load_model(folder)
    for _ in range(2):
        loaded.train_on_batch(xb, yb)
    for var in loaded.weights:
        np.testing.assert_array_equal(state[var.path], var.numpy())
    entry = json.load(open(os.path.join(folder, "graphs", "manifest.json")))["graphs"]["predict"]
    predict = ort.InferenceSession(os.path.join(folder, "graphs", "predict.onnx"),
                                   providers=["CPUExecutionProvider"])
    feeds = {"input_1": X, **_state_from_members(folder, entry)}
    np.testing.assert_allclose(predict.run(None, feeds)[0], model.predict(X, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_saved_graphs_read_back_with_their_state(tmp_path):
    import onnxruntime as ort
    model = _fresh(_functional)
    _fit(model, 1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    want = model.predict(X, verbose=0)
    # predict: the weights embedded from weights.h5, a self-contained graph
    proto = gk.saving.load_predict_onnx(path)
    assert [i.name for i in proto.graph.input] == ["input_1"]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input_1": X})[0], want, rtol=1e-6, atol=1e-6)
    # the train step with its state (weights, slots, counter, generator, metrics)
    proto, state = gk.saving.load_graph(path, "train_step")
    assert set(state) == {i.name for i in proto.graph.input} - {"input_1", "y"}
    for var in model.weights:
        np.testing.assert_array_equal(state[var.path], var.numpy())
    assert int(state["iteration"]) == int(model.optimizer.iterations.numpy())
    with pytest.raises(ValueError, match="no 'nope' graph"):
        gk.saving.load_graph(path, "nope")


def test_include_optimizer_false_and_compile_false(tmp_path):
    model = _fresh(_functional)
    _fit(model, 1)
    path = str(tmp_path / "m.keras")
    model.save(path, include_optimizer=False)
    with zipfile.ZipFile(path) as zf:
        assert "optimizer.h5" not in zf.namelist()
        assert "graphs/train_step.onnx" not in zf.namelist()
    loaded = gk.models.load_model(path)
    assert loaded._is_compiled and int(loaded.optimizer.iterations.numpy()) == 0
    raw = gk.models.load_model(path, compile=False)
    assert not getattr(raw, "_is_compiled", False)
    np.testing.assert_array_equal(raw.predict(X, verbose=0), model.predict(X, verbose=0))
    with pytest.raises(RuntimeError):
        raw.fit(X, Y, verbose=0)


def test_uncompiled_and_unbuilt_models(tmp_path):
    model = gk.Sequential([gk.layers.Dense(3, input_shape=(4,))])
    model.save(str(tmp_path / "seq.keras"))
    loaded = gk.models.load_model(str(tmp_path / "seq.keras"))
    assert type(loaded) is gk.Sequential
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    with pytest.raises(ValueError, match="built"):
        ModuleSub().save(str(tmp_path / "unbuilt.keras"))
    assert not os.path.exists(tmp_path / "unbuilt.keras")


def test_overwrite_false_refuses_without_a_terminal(tmp_path, monkeypatch):
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    path = str(tmp_path / "m.keras")
    model.save(path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)


@pytest.mark.parametrize("name", ["m.keras", "m_dir"])
def test_failed_save_leaves_previous_save_intact(tmp_path, monkeypatch, name):
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    path = str(tmp_path / name)
    model.save(path)
    before = gk.models.load_model(path).get_weights()
    model.set_weights([w + 1 for w in model.get_weights()])

    def crash(self, writer):
        writer.json(native.METADATA, {"partial": True})
        raise OSError("disk full")

    monkeypatch.setattr(native._Members, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary left behind
    for a, b in zip(before, gk.models.load_model(path).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_refuses_to_replace_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="not part of a graphkeras model"):
        model.save(str(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_loading_runs_no_code_from_the_file(tmp_path, monkeypatch):
    model = _fresh(ModuleSub)
    _fit(model, 1)
    path = str(tmp_path / "s.keras")
    model.save(path)
    gk.models.load_model(path)  # imports whatever loading needs, once

    def forbidden(*args, **kwargs):
        raise AssertionError("loading must not unpickle, unmarshal or eval")

    for target, attr in [(pickle, "loads"), (pickle, "load"), (marshal, "loads"),
                         (builtins, "eval")]:
        monkeypatch.setattr(target, attr, forbidden)
    again = gk.models.load_model(path)
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


# ------------------------------------------------------------------ hostile files
@pytest.fixture
def saved_dir(tmp_path):
    model = _fresh(_functional)
    _fit(model, 1)
    path = str(tmp_path / "m")
    model.save(path)
    return path


def _reseal(folder):
    """Record the edited members' checksums, as a deliberate forger would."""
    meta_path = os.path.join(folder, "metadata.json")
    meta = json.load(open(meta_path))
    for name in meta["crc32"]:
        path = os.path.join(folder, *name.split("/"))
        if os.path.exists(path):
            meta["crc32"][name] = zlib.crc32(open(path, "rb").read())
    json.dump(meta, open(meta_path, "w"))


def test_damaged_member_fails_its_checksum(saved_dir):
    path = os.path.join(saved_dir, "weights.h5")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        gk.models.load_model(saved_dir)


def _rewrite_zip(src, dst, replace=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, zin.read(info))
            zout.writestr(info, data)


def _declare_size(path, member, size):
    """Patch the central directory so ``member`` claims ``size`` uncompressed bytes."""
    data = bytearray(open(path, "rb").read())
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        name_len = struct.unpack("<H", data[pos + 28:pos + 30])[0]
        if data[pos + 46:pos + 46 + name_len].decode() == member:
            data[pos + 24:pos + 28] = struct.pack("<I", size)
            break
        pos += 4
    open(path, "wb").write(bytes(data))


def test_huge_declared_members_are_refused(tmp_path):
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    good = str(tmp_path / "good.keras")
    model.save(good)
    for member, size in [("weights.h5", 2**31), ("config.json", 2**32 - 2)]:
        bad = str(tmp_path / f"bad_{member}.keras")
        shutil.copy(good, bad)
        _declare_size(bad, member, size)
        with pytest.raises(ValueError, match="declares a size"):
            gk.models.load_model(bad)


def test_missing_members_bad_json_and_garbage(tmp_path):
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    good = str(tmp_path / "good.keras")
    model.save(good)
    cases = {"no_weights": dict(drop=("weights.h5",)),
             "no_config": dict(drop=("config.json",)),
             "bad_json": dict(replace={"config.json": b"{\"class_name\": "}),
             "deep_json": dict(replace={"config.json": b"[" * 200000 + b"]" * 200000}),
             "not_config": dict(replace={"config.json": b"[1, 2]"}),
             "newer": dict(replace={"metadata.json": json.dumps(
                 {"format": "graphkeras", "format_version": 99}).encode()}),
             "bad_h5": dict(replace={"weights.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 64})}
    for label, edits in cases.items():
        bad = str(tmp_path / f"{label}.keras")
        _rewrite_zip(good, bad, **edits)
        with pytest.raises(ValueError):
            gk.models.load_model(bad)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises((ValueError, OSError)):
        gk.models.load_model(str(garbage))
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(open(good, "rb").read()[:300])
    with pytest.raises((ValueError, OSError)):
        gk.models.load_model(str(truncated))


def test_weight_shapes_must_match_the_config(saved_dir):
    with h5py.File(os.path.join(saved_dir, "weights.h5"), "r+") as f:
        del f["dense/kernel:0"]
        f.create_dataset("dense/kernel:0", data=np.zeros((5, 8), "float32"))
    _reseal(saved_dir)
    with pytest.raises(ValueError, match=r"shape \(5, 8\).*expects \(4, 8\)"):
        gk.models.load_model(saved_dir)


def test_wrong_weight_dtype_and_links_are_refused(saved_dir):
    with h5py.File(os.path.join(saved_dir, "weights.h5"), "r+") as f:
        del f["dense/bias:0"]
        f.create_dataset("dense/bias:0", data=np.array(["x"] * 8, dtype="S1"))
    _reseal(saved_dir)
    with pytest.raises(ValueError, match="unsupported type"):
        gk.models.load_model(saved_dir)
    with h5py.File(os.path.join(saved_dir, "weights.h5"), "r+") as f:
        del f["dense/bias:0"]
        f["dense/bias:0"] = h5py.ExternalLink("/etc/passwd", "/x")
    _reseal(saved_dir)
    with pytest.raises(ValueError, match="link"):
        gk.models.load_model(saved_dir)


def test_traced_config_with_huge_or_mismatched_weights(tmp_path):
    model = _fresh(_local_class())
    _fit(model, 1)
    path = str(tmp_path / "s")
    model.save(path)
    config_path = os.path.join(path, "config.json")
    config = json.load(open(config_path))
    huge = json.loads(json.dumps(config))
    huge["config"]["weights"][0]["shape"] = [200000, 200000]
    json.dump(huge, open(config_path, "w"))
    _reseal(path)
    with pytest.raises(ValueError, match="declares"):
        gk.models.load_model(path)
    odd = json.loads(json.dumps(config))
    odd["config"]["weights"][0]["shape"] = [6, 4]
    json.dump(odd, open(config_path, "w"))
    _reseal(path)
    with pytest.raises(ValueError, match="shape"):
        gk.models.load_model(path)
    cyclic = json.loads(json.dumps(config))
    nodes = cyclic["config"]["graph"]["nodes"]
    nodes[0]["inputs"] = [nodes[-1]["outputs"][0]["name"]]
    json.dump(cyclic, open(config_path, "w"))
    _reseal(path)
    with pytest.raises(ValueError, match="before it is defined"):
        gk.models.load_model(path)


def test_duplicate_weight_names_round_trip(tmp_path):
    class Twins(gk.Model):
        def __init__(self):
            super().__init__()
            self.a = gk.layers.Dense(3, name="d")
            self.b = gk.layers.Dense(2, name="d")

        def call(self, x):
            return self.b(self.a(x))

    model = Twins()
    model(X[:2])
    assert [w.name for w in model.weights].count("d/kernel:0") == 2
    model.save(str(tmp_path / "twins.keras"))
    loaded = gk.models.load_model(str(tmp_path / "twins.keras"))
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_streamed_members_make_a_valid_zip_with_zip64_records_too(tmp_path, monkeypatch):
    """Stored members are streamed with their header rewritten once the CRC-32 is known;
    with zip64 records when sizes need them (forced here by lowering the limit)."""
    model = gk.Sequential([gk.layers.Dense(300, input_shape=(40,)), gk.layers.Dense(3)])
    for label, limit in (("plain", zipfile.ZIP64_LIMIT), ("zip64", 1000)):
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", limit)
        path = str(tmp_path / f"{label}.keras")
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            info = zf.getinfo("weights.h5")
            assert info.compress_type == zipfile.ZIP_STORED
            assert (info.extract_version >= 45) == (label == "zip64")
            with h5py.File(io.BytesIO(zf.read("weights.h5")), "r") as f:
                np.testing.assert_array_equal(f["dense/kernel:0"][()], model.weights[0].numpy())
        loaded = gk.models.load_model(path)
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_saves_are_synced_to_disk_before_they_replace_the_target(tmp_path, monkeypatch):
    model = _fresh(_functional)
    _fit(model, 1)
    synced, fsync = [], os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    model.save(str(tmp_path / "m.keras"))  # one file: synced once, as the temporary file
    assert len(synced) == 1 and os.path.basename(synced[0]).startswith(".tmp-")
    synced.clear()
    model.save(str(tmp_path / "m_dir"))  # a folder: every member, and the folders, synced
    root = next(p for p in synced if os.path.basename(p).startswith(".tmp-"))
    assert all(p == root or p.startswith(root + os.sep) for p in synced)
    written = {os.path.relpath(os.path.join(d, f), str(tmp_path / "m_dir"))
               for d, _, files in os.walk(tmp_path / "m_dir") for f in files}
    assert {os.path.relpath(p, root) for p in synced} == written | {".", "graphs"}
