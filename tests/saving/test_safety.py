"""Loading never runs code from a file, and hostile or corrupt files fail cleanly.

* A tf.keras ``.h5`` (tests/fixtures/saving_safety/, made by
  tests/reference/make_lambda_fixture.py) whose Lambda layer holds its function as
  Python bytecode that, if it ever ran, would write a marker file: refused with an
  error naming the layer and saying how to pass the function (``custom_objects``),
  and the marker never appears; with the function supplied it loads and predicts as
  tf.keras did. The same for its JSON through ``model_from_json``.
* Unknown class names, wrong dtypes, shapes that do not match the config, huge
  declared shapes (refused before anything is allocated), cyclic and deeply nested
  configs, truncated files, attributes of odd types, links out of the file: a clear
  ``ValueError`` or ``OSError``, never another exception, a crash or a hang.
"""
import builtins
import copy
import json
import marshal
import os
import pickle
import shutil
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import numpy.testing  # noqa: F401 - imported before the tests forbid unmarshalling
import pytest

import graphkeras as gk
from graphkeras.saving import checked

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "saving_safety"
LAMBDA_H5 = FIX / "lambda_bytecode.h5"
LAMBDA_REF = json.loads((FIX / "lambda_bytecode.json").read_text())
LAMBDA_ARR = np.load(FIX / "lambda_bytecode.npz")


def double(x):
    return gk.ops.multiply(x, 2.0)


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """Where the fixture's bytecode would write if it ran (its environment variable,
    and its default relative path with the working directory moved to tmp_path); and
    unpickling, unmarshalling and eval made to fail loudly."""
    path = tmp_path / "marker.txt"
    monkeypatch.setenv(LAMBDA_REF["marker_env"], str(path))
    monkeypatch.chdir(tmp_path)
    # import what loading and predicting use (imports unmarshal), before forbidding it
    model = gk.models.load_model(LAMBDA_H5, custom_objects={"marker_lambda": double})
    model.predict(LAMBDA_ARR["x"], verbose=0)
    gk.models.model_from_json(LAMBDA_REF["to_json"], custom_objects={"marker_lambda": double})

    def forbidden(*args, **kwargs):
        raise AssertionError("loading must not unpickle, unmarshal or eval")

    for target, attr in [(pickle, "loads"), (pickle, "load"), (marshal, "loads"),
                         (marshal, "load"), (builtins, "eval"), (builtins, "exec")]:
        monkeypatch.setattr(target, attr, forbidden)
    yield path
    assert not path.exists(), "code from the file ran"
    assert not (tmp_path / "graphkeras_lambda_marker.txt").exists(), "code from the file ran"


# ------------------------------------------------------------------ Lambda bytecode
RUN_BYTECODE = """
import base64, codecs, json, marshal, sys, types
import numpy as np
entry = json.load(open(sys.argv[1]))["lambda_entry"]["config"]
code, defaults, closure = entry["function"]
code = marshal.loads(codecs.decode(code.encode("ascii"), "base64"))
cells = tuple(types.CellType(v) for v in closure)
fn = types.FunctionType(code, {}, None, tuple(defaults), cells)
print(fn(np.ones(2)))
"""


def test_fixture_really_carries_code_that_writes_the_marker(tmp_path):
    """What a loader that decoded the bytecode would do (tf.keras does: the fixture's
    record says its load wrote the marker), in a separate process: the marker appears."""
    import subprocess
    import sys
    entry = LAMBDA_REF["lambda_entry"]
    assert entry["config"]["function_type"] == "lambda"
    assert LAMBDA_REF["tf_keras_load_ran_code"] is True
    path = tmp_path / "marker.txt"
    env = {**os.environ, LAMBDA_REF["marker_env"]: str(path)}
    subprocess.run([sys.executable, "-c", RUN_BYTECODE, str(FIX / "lambda_bytecode.json")],
                   env=env, cwd=tmp_path, check=True, capture_output=True)
    assert path.read_text() == "code from the saved file ran\n"


def test_lambda_bytecode_is_refused_and_never_runs(marker):
    with pytest.raises(ValueError) as info:
        gk.models.load_model(LAMBDA_H5)
    message = str(info.value)
    assert "'marker_lambda'" in message and "bytecode" in message
    assert "custom_objects={'marker_lambda': fn}" in message


def test_lambda_with_function_supplied_loads_and_predicts(marker):
    model = gk.models.load_model(LAMBDA_H5, custom_objects={"marker_lambda": double})
    np.testing.assert_allclose(model.predict(LAMBDA_ARR["x"], verbose=0), LAMBDA_ARR["y"],
                               rtol=1e-5, atol=1e-6)
    assert model.get_layer("marker_lambda").function is double
    with gk.utils.custom_object_scope({"marker_lambda": double}):
        again = gk.models.load_model(LAMBDA_H5, compile=False)
    np.testing.assert_allclose(again.predict(LAMBDA_ARR["x"], verbose=0), LAMBDA_ARR["y"],
                               rtol=1e-5, atol=1e-6)


def test_lambda_bytecode_in_json_is_refused(marker):
    with pytest.raises(ValueError, match=r"'marker_lambda'.*custom_objects"):
        gk.models.model_from_json(LAMBDA_REF["to_json"])
    model = gk.models.model_from_json(LAMBDA_REF["to_json"],
                                      custom_objects={"marker_lambda": double})
    assert model.get_layer("marker_lambda").function is double


def test_lambda_registered_function_does_not_stand_in_for_bytecode(marker):
    """Only what the user passes replaces bytecode: a registered function that happens
    to share the layer's name is not used."""
    config = json.loads(LAMBDA_REF["to_json"])
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "Lambda":
            entry["config"]["name"] = "relu"
            entry["name"] = "relu"
        for node in entry["inbound_nodes"]:
            for ref in node:
                if ref[0] == "marker_lambda":
                    ref[0] = "relu"
    with pytest.raises(ValueError, match="bytecode"):
        gk.models.model_from_json(json.dumps(config))


def test_lambda_output_shape_bytecode_is_dropped(marker):
    config = json.loads(LAMBDA_REF["to_json"])
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Lambda")
    entry["config"]["output_shape"] = entry["config"]["function"]
    entry["config"]["output_shape_type"] = "lambda"
    model = gk.models.model_from_json(json.dumps(config),
                                      custom_objects={"marker_lambda": double})
    assert model.get_layer("marker_lambda").get_config()["output_shape"] is None


# ------------------------------------------------------------------ small valid files
def _model():
    x = gk.Input((4,), name="x")
    h = gk.layers.Dense(3, name="d1")(x)
    model = gk.Model(x, gk.layers.Dense(2, name="d2")(h))
    model.compile("adam", "mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), epochs=1, verbose=0)
    return model


@pytest.fixture
def files(tmp_path):
    model = _model()
    out = {"model": model, "config": json.loads(model.to_json())}
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        out[name] = tmp_path / name
    model.save_weights(tmp_path / "w.h5")
    out["w.h5"] = tmp_path / "w.h5"
    return out


def _edited_h5(files, tmp_path, edit, name="m.h5"):
    path = tmp_path / f"edited_{name}"
    shutil.copy(files[name], path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _with_config(files, tmp_path, change):
    config = copy.deepcopy(files["config"])
    change(config)
    return _edited_h5(files, tmp_path, lambda f: f.attrs.__setitem__("model_config",
                                                                      json.dumps(config)))


def _layer(config, name):
    return next(e for e in config["config"]["layers"] if e["config"]["name"] == name)


# ------------------------------------------------------------------ unknown classes
def test_unknown_class_names_say_how_to_register(files, tmp_path):
    def rename(config):
        _layer(config, "d1")["class_name"] = "FancyLayer"
    path = _with_config(files, tmp_path, rename)
    for load in (lambda: gk.models.load_model(path),
                 lambda: gk.models.model_from_json(
                     json.dumps({**files["config"], "class_name": "FancyModel"}))):
        with pytest.raises(ValueError) as info:
            load()
        assert "custom_objects" in str(info.value)
        assert "register_keras_serializable" in str(info.value)
    with zipfile.ZipFile(files["m.keras"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    _layer(config, "d1")["class_name"] = "FancyLayer"
    members["config.json"] = json.dumps(config).encode()
    meta = json.loads(members["metadata.json"])
    meta["crc32"]["config.json"] = zlib.crc32(members["config.json"])
    members["metadata.json"] = json.dumps(meta).encode()
    bad = tmp_path / "unknown.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="register_keras_serializable"):
        gk.models.load_model(bad)


def test_a_config_that_is_not_a_model(files, tmp_path):
    path = _edited_h5(files, tmp_path, lambda f: f.attrs.__setitem__(
        "model_config", json.dumps({"class_name": "Dense", "config": {"units": 2}})))
    with pytest.raises(ValueError, match="describes a Dense layer, not a model"):
        gk.models.load_model(path)


# ------------------------------------------------------------------ dtypes and shapes
def _replace(path_in_file, make):
    def edit(f):
        shape = f[path_in_file].shape
        del f[path_in_file]
        make(f, path_in_file, shape)
    return edit


BAD_DTYPES = {
    "strings": lambda f, p, s: f.create_dataset(p, data=np.full(s, b"x")),
    "complex": lambda f, p, s: f.create_dataset(p, data=np.zeros(s, np.complex64)),
    "compound": lambda f, p, s: f.create_dataset(p, data=np.zeros(s, [("a", "f4"), ("b", "i4")])),
    "vlen_str": lambda f, p, s: f.create_dataset(p, shape=s, dtype=h5py.string_dtype()),
    "subarray": lambda f, p, s: f.create_dataset(p, shape=s[:1], dtype=np.dtype(("f4", s[1:]))),
    "reference": lambda f, p, s: f.create_dataset(p, shape=s, dtype=h5py.ref_dtype),
    "opaque": lambda f, p, s: f.create_dataset(p, data=np.zeros(s, "V4")),
    "no_data": lambda f, p, s: f.create_dataset(p, data=h5py.Empty("f4")),
}


@pytest.mark.parametrize("kind", sorted(BAD_DTYPES))
def test_wrong_dtypes_are_refused(files, tmp_path, kind):
    path = _edited_h5(files, tmp_path, _replace("model_weights/d1/d1/kernel:0", BAD_DTYPES[kind]))
    with pytest.raises(ValueError, match="'d1/kernel:0'"):
        gk.models.load_model(path)
    weights = _edited_h5(files, tmp_path, _replace("d1/d1/kernel:0", BAD_DTYPES[kind]), "w.h5")
    with pytest.raises(ValueError, match="'d1/kernel:0'"):
        files["model"].load_weights(weights)


def test_numeric_dtypes_are_converted(files, tmp_path):
    big_endian = _replace("model_weights/d1/d1/kernel:0",
                          lambda f, p, s: f.create_dataset(p, data=np.ones(s, ">f8")))
    path = _edited_h5(files, tmp_path, big_endian)
    model = gk.models.load_model(path)
    assert model.get_layer("d1").kernel.dtype == "float32"
    np.testing.assert_array_equal(model.get_layer("d1").kernel.numpy(), np.ones((4, 3)))


def test_shapes_not_matching_the_config(files, tmp_path):
    path = _edited_h5(files, tmp_path, _replace(
        "model_weights/d1/d1/kernel:0", lambda f, p, s: f.create_dataset(p, data=np.ones((5, 3)))))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        gk.models.load_model(path)

    def wider(config):
        _layer(config, "d1")["config"]["units"] = 4
    with pytest.raises(ValueError, match=r"Shape mismatch"):
        gk.models.load_model(_with_config(files, tmp_path, wider))


def _peak_alloc(fn):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            fn()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_huge_declared_shapes_allocate_nothing(files, tmp_path):
    # a dataset declaring 160 GB (HDF5 allocates nothing for it): refused before reading
    path = _edited_h5(files, tmp_path, _replace(
        "model_weights/d1/d1/kernel:0",
        lambda f, p, s: f.create_dataset(p, shape=(200_000, 200_000), dtype="f4")))
    peak, message = _peak_alloc(lambda: gk.models.load_model(path))
    assert "Shape mismatch" in message and peak < 20 * 2**20

    # a config declaring huge layers: refused before their weights are allocated
    for field, value in [("units", 10**9), ("units", 10**400)]:
        def huge(config, field=field, value=value):
            _layer(config, "d1")["config"][field] = value
        path = _with_config(files, tmp_path, huge)
        peak, message = _peak_alloc(lambda: gk.models.load_model(path))
        assert "more than what the file can hold" in message and peak < 20 * 2**20

    def huge_input(config):
        config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 10**12]
    path = _with_config(files, tmp_path, huge_input)
    peak, message = _peak_alloc(lambda: gk.models.load_model(path))
    assert "declares more than" in message and peak < 20 * 2**20

    # a JSON config alone: bounded by the machine's memory
    config = copy.deepcopy(files["config"])
    _layer(config, "d1")["config"]["units"] = 10**13
    peak, message = _peak_alloc(lambda: gk.models.model_from_json(json.dumps(config)))
    assert "this machine's memory" in message and peak < 20 * 2**20


@pytest.mark.parametrize("dtype", ["no_such_type", "\udc80", 7])
def test_invalid_weight_dtypes_in_the_config(files, tmp_path, dtype):
    def change(config):
        _layer(config, "d1")["config"]["dtype"] = dtype
    config = copy.deepcopy(files["config"])
    change(config)
    for load in (lambda: gk.models.load_model(_with_config(files, tmp_path, change)),
                 lambda: gk.models.model_from_json(json.dumps(config))):
        with pytest.raises(ValueError) as info:
            load()
        assert not isinstance(info.value, UnicodeError)  # a ValueError that says what is wrong


def test_traced_config_declaring_huge_weights():
    class Sub(gk.Model):
        def __init__(self):
            super().__init__()
            self.dense = gk.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Sub()
    model(np.ones((2, 4), "float32"))
    config = json.loads(model.to_json())
    assert config["class_name"] == "TracedModel"
    config["config"]["weights"][0]["shape"] = [10**7, 10**7]
    peak, message = _peak_alloc(lambda: gk.models.model_from_json(json.dumps(config)))
    assert "this machine's memory" in message and peak < 20 * 2**20
    config["config"]["weights"][0]["shape"] = [-1, 2]
    with pytest.raises(ValueError, match="invalid weight shape"):
        gk.models.model_from_json(json.dumps(config))


# ------------------------------------------------------------------ graph structure
def _cycle(config):
    _layer(config, "d1")["inbound_nodes"] = [[["d2", 0, 0, {}]]]


def _self_loop(config):
    _layer(config, "d1")["inbound_nodes"] = [[["d1", 0, 0, {}]]]


def _missing_output(config):
    config["config"]["output_layers"] = [["nowhere", 0, 0]]


def _bad_tensor_index(config):
    config["config"]["output_layers"] = [["d2", 0, 5]]


def _layers_not_a_list(config):
    config["config"]["layers"] = {"d1": 1}


def _no_layers(config):
    del config["config"]["layers"]


def _entry_not_a_dict(config):
    config["config"]["layers"][1] = 7


def _config_none(config):
    _layer(config, "d1")["config"] = None


def _bad_call_kwargs(config):
    _layer(config, "d1")["inbound_nodes"] = [[["x", 0, 0, {"evil": 1}]]]


GRAPH_EDITS = [_cycle, _self_loop, _missing_output, _bad_tensor_index, _layers_not_a_list,
               _no_layers, _entry_not_a_dict, _config_none, _bad_call_kwargs]


@pytest.mark.parametrize("edit", GRAPH_EDITS, ids=lambda e: e.__name__.strip("_"))
def test_broken_graphs_in_the_config(files, tmp_path, edit):
    config = copy.deepcopy(files["config"])
    edit(config)
    with pytest.raises(ValueError):
        gk.models.model_from_json(json.dumps(config))
    with pytest.raises(ValueError):
        gk.models.load_model(_with_config(files, tmp_path, edit))


def test_cycles_are_reported(files):
    config = copy.deepcopy(files["config"])
    _cycle(config)
    with pytest.raises(ValueError, match=r"\['d1', 'd2'\] have inputs that are never produced"):
        gk.models.model_from_json(json.dumps(config))


def test_layers_in_any_order_rebuild_in_linear_time():
    """A long chain listed backwards (each layer before the one it reads) rebuilds to
    the same model, and does not take quadratic time."""
    x = gk.Input((3,), name="x")
    h = x
    for i in range(400):
        h = gk.layers.Activation("linear", name=f"a{i}")(h)
    model = gk.Model(x, gk.layers.Dense(2, name="out")(h))
    config = json.loads(model.to_json())
    config["config"]["layers"] = config["config"]["layers"][:1] + config["config"]["layers"][:0:-1]
    start = time.perf_counter()
    again = gk.models.model_from_json(json.dumps(config))
    assert time.perf_counter() - start < 10
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    again.set_weights(model.get_weights())
    data = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(again.predict(data, verbose=0), model.predict(data, verbose=0))


def _nested_sequential(depth):
    inner = '{"class_name": "Dense", "config": {"units": 2, "name": "d"}}'
    for i in range(depth):
        inner = f'{{"class_name": "Sequential", "config": {{"name": "s{i}", "layers": [{inner}]}}}}'
    return inner


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, _nested_sequential(400)],
                         ids=["json", "sequential"])
def test_deep_nesting(files, tmp_path, text):
    with pytest.raises(ValueError):
        gk.models.model_from_json(text)
    path = _edited_h5(files, tmp_path, lambda f: f.attrs.__setitem__("model_config", text))
    with pytest.raises(ValueError):
        gk.models.load_model(path)


# ------------------------------------------------------------------ attributes, links
ODD_ATTRS = {
    "config_int": ("", "model_config", 5),
    "config_floats": ("", "model_config", np.zeros(4)),
    "config_strings": ("", "model_config", np.array([b"{", b"}"])),
    "config_bad_utf8": ("", "model_config", np.bytes_(b"\xff\xfe{")),
    "config_json_list": ("", "model_config", "[1, 2]"),
    "config_no_layers": ("", "model_config", '{"class_name": "Functional", "config": {}}'),
    "training_config_list": ("", "training_config", "[1]"),
    "training_config_bad": ("", "training_config", "{oops"),
    "optimizer_config_int": ("", "training_config", '{"loss": "mse", "optimizer_config": 5}'),
    "layer_names_ints": ("model_weights", "layer_names", np.arange(3)),
    "layer_names_2d": ("model_weights", "layer_names", np.array([[b"d1", b"d2"]])),
    "layer_names_unknown": ("model_weights", "layer_names", [b"d1", b"zzz"]),
    "weight_names_float": ("model_weights/d1", "weight_names", 1.5),
    "weight_names_missing_ds": ("model_weights/d1", "weight_names", [b"nope:0", b"d1/bias:0"]),
    "weight_names_empty": ("model_weights/d1", "weight_names", [b"", b"d1/bias:0"]),
    "weight_names_absolute": ("model_weights/d1", "weight_names",
                              [b"/model_weights/d1/d1/kernel:0", b"d1/bias:0"]),
}


@pytest.mark.parametrize("label", sorted(ODD_ATTRS))
def test_attributes_of_odd_types(files, tmp_path, label):
    where, name, value = ODD_ATTRS[label]
    path = _edited_h5(files, tmp_path, lambda f: f[where or "/"].attrs.__setitem__(name, value))
    with pytest.raises(ValueError):
        gk.models.load_model(path)


@pytest.mark.parametrize("label", ["layer_names_ints", "layer_names_unknown",
                                   "weight_names_float", "weight_names_missing_ds"])
def test_weights_file_attributes_of_odd_types(files, tmp_path, label):
    where, name, value = ODD_ATTRS[label]
    where = where.replace("model_weights", "").strip("/") or "/"
    path = _edited_h5(files, tmp_path, lambda f: f[where].attrs.__setitem__(name, value), "w.h5")
    with pytest.raises(ValueError):
        files["model"].load_weights(path)


LINKS = {
    "external_link": lambda f, p, s: f.__setitem__(p, h5py.ExternalLink("/etc/passwd", "/x")),
    "soft_link": lambda f, p, s: f.__setitem__(p, h5py.SoftLink("/model_weights/d2/d2/kernel:0")),
}


@pytest.mark.parametrize("kind", sorted(LINKS))
def test_links_out_of_place_are_refused(files, tmp_path, kind):
    path = _edited_h5(files, tmp_path, _replace("model_weights/d1/d1/kernel:0", LINKS[kind]))
    with pytest.raises(ValueError, match="plain groups and datasets only"):
        gk.models.load_model(path)


def test_external_storage_is_refused(files, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(48))
    path = _edited_h5(files, tmp_path, _replace(
        "model_weights/d1/d1/kernel:0",
        lambda f, p, s: f.create_dataset(p, shape=s, dtype="f4", external=[(str(outside), 0, 48)])))
    with pytest.raises(ValueError, match="outside the file"):
        gk.models.load_model(path)


# ------------------------------------------------------------------ truncated files
@pytest.mark.parametrize("name", ["m.h5", "w.h5", "m.keras"])
def test_truncated_files(files, tmp_path, name):
    data = files[name].read_bytes()
    for cut in (0, 7, 64, 700, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 1):
        path = tmp_path / f"cut_{cut}_{name}"
        path.write_bytes(data[:cut])
        with pytest.raises((ValueError, OSError)):
            if name == "w.h5":
                files["model"].load_weights(path)
            else:
                gk.models.load_model(path)


# ------------------------------------------------------------------ checked large members
@pytest.fixture
def checked_files(tmp_path, monkeypatch):
    """Native saves whose HDF5 members take the large-member path (whatever their size)."""
    monkeypatch.setattr(checked, "MIN_BYTES", 0)
    model = _model()
    paths = {"zip": tmp_path / "m.keras", "dir": tmp_path / "m_dir"}
    for path in paths.values():
        model.save(path)
    return model, paths


def test_checked_members_load_exactly(checked_files, monkeypatch):
    model, paths = checked_files
    opened_in_place = []
    check_rest = checked.check_rest

    def spy(window, rec, size, where, name):
        opened_in_place.append(name)
        return check_rest(window, rec, size, where, name)

    monkeypatch.setattr(checked, "check_rest", spy)
    for path in paths.values():
        opened_in_place.clear()
        loaded = gk.models.load_model(path)
        assert {"weights.h5", "optimizer.h5"} <= set(opened_in_place)
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert int(loaded.optimizer.iterations.numpy()) == 1
    meta = json.loads((paths["dir"] / "metadata.json").read_text())
    assert {"weights.h5", "optimizer.h5"} <= set(meta["arrays"])


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_checked_members_detect_damage_in_arrays_and_headers(checked_files):
    _, paths = checked_files
    weights = paths["dir"] / "weights.h5"
    record = json.loads((paths["dir"] / "metadata.json").read_text())["arrays"]["weights.h5"]
    original = weights.read_bytes()
    offset, length, _ = record["extents"][0]
    for where in (offset + length // 2, 100):  # inside an array; in the HDF5 header
        weights.write_bytes(original)
        _flip(weights, where)
        with pytest.raises(ValueError, match="damaged"):
            gk.models.load_model(paths["dir"])
    # the zip: damage inside the stored weights member
    data = paths["zip"].read_bytes()
    with zipfile.ZipFile(paths["zip"]) as zf:
        info = zf.getinfo("weights.h5")
    start = data.index(original[:64], info.header_offset)
    _flip(paths["zip"], start + offset + 4)
    with pytest.raises(ValueError, match="damaged"):
        gk.models.load_model(paths["zip"])


def test_checked_member_records_that_lie_are_refused(checked_files):
    _, paths = checked_files
    meta_path = paths["dir"] / "metadata.json"
    meta = json.loads(meta_path.read_text())
    lies = [{"extents": [[10**12, 8, 0]], "crc32_rest": 0},
            {"extents": [[0, -1, 0]], "crc32_rest": 0},
            {"extents": "all", "crc32_rest": 0},
            {"extents": [], "crc32_rest": 1}]
    for lie in lies:
        meta["arrays"]["weights.h5"] = lie
        meta_path.write_text(json.dumps(meta))
        with pytest.raises(ValueError, match="damaged"):
            gk.models.load_model(paths["dir"])
