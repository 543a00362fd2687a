"""tf.keras' HDF5 format both ways (issue 5 items 1, 2 and 6).

Fixtures (tests/fixtures/saving/) come from tests/reference/make_saving_fixtures.py run
with tf_keras 2.21, and from tests/saving/make_graphkeras_files.py (files graphkeras
wrote, which the reference script loaded with tf.keras)."""
from __future__ import annotations

import io
import json
import logging
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import graphkeras as gk
from graphkeras.saving import hdf5
from graphkeras.saving.training_config import (_legacy_to_current, optimizer_state,
                                               training_config)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import h5layout  # noqa: E402
import saving_cases as cases  # noqa: E402

FIX = HERE.parent / "fixtures" / "saving"
REF = json.loads((FIX / "reference.json").read_text())
with np.load(FIX / "arrays.npz") as _arrays:
    ARR = dict(_arrays)

FULL_CASES = ["mlp", "cnn", "seq", "multi", "nested", "legacy"]
GRAPH_CASES = ["mlp", "cnn", "seq", "multi", "nested"]


def x_y(case):
    x = ARR[f"{case}/x"]
    if f"{case}/y" in ARR:
        return x, ARR[f"{case}/y"]
    prefix = f"{case}/y/"
    return x, {k[len(prefix):]: v for k, v in ARR.items() if k.startswith(prefix)}


def predictions(key):
    if key in ARR:
        return ARR[key]
    return [ARR[f"{key}/{i}"] for i in range(2)]


def assert_outputs_close(got, want, **tol):
    if isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **tol)
    else:
        np.testing.assert_allclose(got, want, **tol)


def file_weights(path):
    """{layer name: [arrays in weight_names order]} of a tf.keras file."""
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        return {name: [np.asarray(g[name][w])
                       for w in hdf5.load_attributes(g[name], "weight_names")]
                for name in hdf5.load_attributes(g, "layer_names")}


def file_optimizer(path):
    with h5py.File(path, "r") as f:
        g = f["optimizer_weights"]
        return [(n, np.asarray(g[n])) for n in hdf5.load_attributes(g, "weight_names")]


def without_jit_compile(config):
    config = json.loads(json.dumps(config))
    config["optimizer_config"]["config"].pop("jit_compile", None)
    return config


def without_input_optional(model_config):
    """tf.keras 2.21's InputLayer config has ``optional`` (graphkeras writes 2.15's keys)."""
    model_config = json.loads(json.dumps(model_config))

    def strip(config):
        for layer in config.get("layers", []):
            if layer["class_name"] == "InputLayer":
                layer["config"].pop("optional", None)
            strip(layer["config"])  # nested models

    strip(model_config["config"])
    return model_config


def attrs_json(path, name):
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs[name])


# ------------------------------------------------------------------ tf.keras -> graphkeras
@pytest.mark.parametrize("case", FULL_CASES)
def test_load_tf_keras_model_predicts_and_restores_state(case):
    path = FIX / f"{case}.h5"
    model = gk.models.load_model(path)
    x, _ = x_y(case)
    assert_outputs_close(model.predict(x, verbose=0), predictions(f"{case}/predict"),
                         rtol=1e-5, atol=1e-6)
    saved = file_weights(path)
    for layer in model.layers:
        got = [w.numpy() for w in layer.trainable_weights + layer.non_trainable_weights]
        assert len(got) == len(saved[layer.name])
        for g, w in zip(got, saved[layer.name]):
            assert np.array_equal(g, w), layer.name
    state = dict(optimizer_state(model))
    saved_opt = file_optimizer(path)
    if case == "legacy":  # pre-2.11 slot names (all m, then all v), mapped to the current ones
        saved_opt = [(_legacy_to_current(n, "Adam"), a) for n, a in saved_opt]
        assert sorted(n for n, _ in saved_opt) == sorted(state)
    else:
        assert [n for n, _ in saved_opt] == [n for n, _ in optimizer_state(model)]
    for name, value in saved_opt:
        assert np.array_equal(state[name], value), name
    assert int(model.optimizer.iterations.numpy()) == int(dict(saved_opt)["iteration:0"]) > 0


@pytest.mark.parametrize("case", FULL_CASES)
def test_continued_fit_matches_tf_keras(case):
    ref = REF[case]
    model = gk.models.load_model(FIX / f"{case}.h5")
    x, y = x_y(case)
    evaluate = model.evaluate(x, y, batch_size=ref["batch_size"], verbose=0, return_dict=True)
    assert set(evaluate) == set(ref["evaluate"])
    for k, v in ref["evaluate"].items():
        np.testing.assert_allclose(evaluate[k], v, rtol=1e-4, err_msg=k)
    cases.disable_dropout(model)
    history = model.fit(x, y, epochs=ref["epochs"], batch_size=ref["batch_size"],
                        shuffle=False, verbose=0).history
    assert model.metrics_names == ref["metrics_names"]
    assert set(history) == set(ref["history"])
    for k, want in ref["history"].items():
        np.testing.assert_allclose(history[k][0], want[0], rtol=1e-4, err_msg=k)
        np.testing.assert_allclose(history[k][1:], want[1:], rtol=1e-3, err_msg=k)
    assert_outputs_close(model.predict(x, verbose=0), predictions(f"{case}/predict_after_fit"),
                         rtol=1e-3, atol=1e-4)


def test_compile_false_and_missing_training_config(caplog):
    model = gk.models.load_model(FIX / "mlp.h5", compile=False)
    assert model.optimizer is None and not model._is_compiled
    x, _ = x_y("mlp")
    np.testing.assert_allclose(model.predict(x, verbose=0), ARR["mlp/predict"], rtol=1e-5,
                               atol=1e-6)
    with caplog.at_level(logging.WARNING, logger="graphkeras"):
        model = gk.models.load_model(FIX / "msg_model.h5")
    assert not model._is_compiled
    assert [r.getMessage() for r in caplog.records] == \
        REF["messages"]["no_training_config"]["warnings"]


def test_load_model_on_weights_file_and_non_hdf5(tmp_path):
    with pytest.raises(ValueError, match="No model config found in the file at"):
        gk.models.load_model(FIX / "mlp_weights.h5")
    text = tmp_path / "w.h5"
    text.write_text("not hdf5")
    model = cases.build(gk, "mlp")
    with pytest.raises(OSError, match="HDF5"):
        model.load_weights(text)


@pytest.mark.parametrize("case", cases.TRAINING_CONFIG_CASES)
def test_training_config_matches_tf_keras(case, tmp_path):
    model = cases.training_config_case(gk, case)
    want = without_jit_compile(REF["training_configs"][case])
    assert without_jit_compile(training_config(model)) == want
    model.save(tmp_path / "m.h5")
    assert without_jit_compile(attrs_json(tmp_path / "m.h5", "training_config")) == want


def test_training_config_after_load_and_fit_equals_file():
    model = gk.models.load_model(FIX / "mlp.h5")
    x, y = x_y("mlp")
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert training_config(model) == attrs_json(FIX / "mlp.h5", "training_config")


def test_legacy_optimizer_state_is_mapped():
    model = gk.models.load_model(FIX / "legacy.h5")
    saved = dict(file_optimizer(FIX / "legacy.h5"))
    state = dict(optimizer_state(model))
    assert np.array_equal(state["Adam/m/hidden/kernel:0"], saved["Adam/hidden/kernel/m:0"])
    assert np.array_equal(state["Adam/v/probs/bias:0"], saved["Adam/probs/bias/v:0"])
    assert state["iteration:0"] == saved["Adam/iter:0"]
    # tf.keras restores it too (into its legacy optimizer)
    assert REF["legacy_optimizer"]["tf_keras_restored_state"]


@pytest.mark.parametrize("name", sorted(k for k in REF["optimizer_names"]
                                        if not k.endswith("_legacy")))
def test_optimizer_weight_names_match_tf_keras(name):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    inp = gk.Input((3,), name="x")
    model = gk.Model(inp, gk.layers.Dense(2, name="d")(inp))
    model.compile(cases.OPTIMIZERS[name](gk.optimizers), "mse")
    model.fit(x, y, batch_size=8, verbose=0)
    got = [[n, list(a.shape), str(a.dtype)] for n, a in optimizer_state(model)]
    assert got == REF["optimizer_names"][name]
    legacy = REF["optimizer_names"].get(f"{name}_legacy")
    if legacy:  # the legacy optimizer's slots map onto current variables of the same shape
        kind = name.split("_")[0]
        shapes = {n: s for n, s, _ in got}
        mapped = {_legacy_to_current(n, kind): s for n, s, _ in legacy
                  if not n.endswith("momentum_cache:0")}
        assert set(mapped) <= set(shapes) and "iteration:0" in mapped
        assert all(shapes[n] == s for n, s in mapped.items())
        if name != "SGD_plain":  # legacy SGD without momentum had no slot at all
            assert set(mapped) == set(shapes)


def test_pre_2_11_training_config_and_optimizer_names():
    """tf.keras < 2.11 files: metrics as given (strings), a legacy optimizer config
    (``decay``), ``sample_weight_mode``, slots named ``training/Adam/<var>/m:0``."""
    from graphkeras.saving.training_config import (compile_from_training_config,
                                                   restore_optimizer_state)
    model = cases.build(gk, "mlp")
    compile_from_training_config(model, {
        "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
        "weighted_metrics": None, "loss_weights": None, "sample_weight_mode": None,
        "optimizer_config": {"class_name": "Adam", "config": {
            "name": "Adam", "learning_rate": 0.01, "decay": 0.0, "beta_1": 0.9,
            "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}})
    assert isinstance(model.optimizer, gk.optimizers.Adam)
    np.testing.assert_allclose(model.optimizer.learning_rate.numpy(), 0.01)
    rng = np.random.default_rng(0)
    saved = [("training/Adam/iter:0", np.int64(7))]
    for slot in ("m", "v"):
        saved += [(f"training/Adam/{w.name[:-2]}/{slot}:0", rng.normal(size=w.shape))
                  for w in model.trainable_weights]
    restore_optimizer_state(model, saved)
    state = dict(optimizer_state(model))
    assert state["iteration:0"] == 7
    np.testing.assert_allclose(state["Adam/v/hidden/bias:0"],
                               dict(saved)["training/Adam/hidden/bias/v:0"], rtol=1e-6)
    x, y = x_y("mlp")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def _replace_dataset(path, name, shape):
    """Declare ``name`` with another (possibly huge) shape; HDF5 allocates nothing."""
    with h5py.File(path, "r+") as f:
        dtype = f[name].dtype
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype)


def test_huge_or_wrong_shapes_are_refused_before_reading(tmp_path, caplog):
    import shutil
    path = tmp_path / "m.h5"
    shutil.copy(FIX / "mlp.h5", path)
    _replace_dataset(path, "optimizer_weights/Adam/m/hidden/kernel:0", (200_000, 200_000))
    with caplog.at_level(logging.WARNING, logger="graphkeras"):
        model = gk.models.load_model(path)  # 160 GB declared: never read
    assert "freshly initialized optimizer" in caplog.records[-1].getMessage()
    assert int(model.optimizer.iterations.numpy()) == 0  # nothing of the state was assigned
    _replace_dataset(path, "model_weights/hidden/hidden/kernel:0", (300_000, 300_000))
    with pytest.raises(ValueError, match="Shape mismatch"):
        gk.models.load_model(path)


# ------------------------------------------------------------------ graphkeras -> tf.keras
@pytest.mark.parametrize("case", GRAPH_CASES)
def test_writer_layout_equals_tf_keras(case, tmp_path):
    """A tf.keras file loaded and saved again by graphkeras: same groups, attributes (with
    their HDF5 string types and values), datasets, dtypes and shapes; same JSON."""
    src = FIX / f"{case}.h5"
    model = gk.models.load_model(src)
    out = tmp_path / f"{case}.h5"
    model.save(out)
    assert h5layout.layout(out, values=True) == h5layout.layout(src, values=True)
    # what tf.keras writes for its reloaded model ("mse" comes back as the function's name)
    assert attrs_json(out, "training_config") == REF[case]["resaved_training_config"]
    assert attrs_json(out, "model_config") == \
        without_input_optional(attrs_json(src, "model_config"))


@pytest.mark.parametrize("case", ["mlp", "seq"])
def test_weights_file_layout_and_loading(case, tmp_path):
    model = cases.build(gk, case)
    model.load_weights(FIX / f"{case}_weights.h5")
    x, _ = x_y(case)
    np.testing.assert_allclose(model.predict(x, verbose=0), ARR[f"{case}/predict"], rtol=1e-5,
                               atol=1e-6)
    model.save_weights(tmp_path / "w.h5")
    assert h5layout.layout(tmp_path / "w.h5", values=True) == \
        h5layout.layout(FIX / f"{case}_weights.h5", values=True)


def test_tf_keras_loads_graphkeras_files():
    """Recorded by the reference script: tf.keras loaded every file graphkeras wrote,
    predicted the same, kept the optimizer state, and writes the same layout itself."""
    report = json.loads((FIX / "from_graphkeras" / "tf_keras_check.json").read_text())
    for case in cases.GK_FILES:
        entry = report[case]
        assert entry["loaded"], entry
        assert entry["max_abs_diff"] < 1e-5
        assert entry["optimizer_state_restored"]
        assert entry["iterations"] > 0 and entry["continued_fit_finite"]
        assert entry["layout_differences"] == []
        assert set(entry["training_config_differences"]) <= {"/optimizer_config/config/jit_compile"}
        # tf.keras 2.21's InputLayer has `optional` (graphkeras writes 2.15's keys)
        assert all(d.endswith("]/config/optional") for d in entry["model_config_differences"])
    assert report["mlp_weights"]["loaded"] and report["mlp_weights"]["max_abs_diff"] < 1e-5
    assert report["mlp_weights"]["layout_differences"] == []


def test_graphkeras_still_writes_the_checked_files(tmp_path):
    """The committed graphkeras files (checked with tf.keras) are what graphkeras writes now."""
    import make_graphkeras_files
    make_graphkeras_files.write(tmp_path)
    committed = FIX / "from_graphkeras"
    for name in [f"{c}.h5" for c in cases.GK_FILES] + ["mlp_weights.h5"]:
        assert h5layout.layout(tmp_path / name, values=True) == \
            h5layout.layout(committed / name, values=True), name
        for attr in ("model_config", "training_config"):
            with h5py.File(tmp_path / name, "r") as a, h5py.File(committed / name, "r") as b:
                assert a.attrs.get(attr) == b.attrs.get(attr), (name, attr)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("case", GRAPH_CASES)
def test_round_trip_resumes_exactly(case, tmp_path):
    model = cases.build(gk, case)
    model.compile(**cases.compile_args(gk, case))
    cases.disable_dropout(model)
    x, y = x_y(case)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = gk.models.load_model(tmp_path / "m.h5")
    cases.disable_dropout(loaded)
    assert type(loaded) is type(model)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)
    for (na, a), (nb, b) in zip(optimizer_state(loaded), optimizer_state(model)):
        assert na == nb and np.array_equal(a, b)
    assert_outputs_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=0)
    h1 = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    assert h1.keys() == h2.keys()
    for k in h1:
        np.testing.assert_allclose(h2[k], h1[k], rtol=1e-6, err_msg=k)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_include_optimizer_false_and_uncompiled(tmp_path, caplog):
    model = cases.build(gk, "mlp")
    model.save(tmp_path / "plain.h5")
    model.compile(**cases.compile_args(gk, "mlp"))
    model.save(tmp_path / "no_opt.h5", include_optimizer=False)
    for name in ("plain.h5", "no_opt.h5"):
        with h5py.File(tmp_path / name, "r") as f:
            assert "training_config" not in f.attrs and "optimizer_weights" not in f
            assert set(f.attrs) == {"backend", "keras_version", "model_config"}
        with caplog.at_level(logging.WARNING, logger="graphkeras"):
            loaded = gk.models.load_model(tmp_path / name)
        assert not loaded._is_compiled
    # compiled but never trained: tf.keras writes the iteration counter only, and restores
    # it in order without a warning
    model.save(tmp_path / "fresh.h5")
    assert [n for n, _ in file_optimizer(tmp_path / "fresh.h5")] == ["iteration:0"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphkeras"):
        loaded = gk.models.load_model(tmp_path / "fresh.h5")
    assert caplog.records == []
    assert loaded._is_compiled and int(loaded.optimizer.iterations.numpy()) == 0


# ------------------------------------------------------------------ load_weights options
@pytest.mark.parametrize("label,model_kwargs,load_kwargs", cases.MESSAGE_CASES,
                         ids=[c[0] for c in cases.MESSAGE_CASES])
def test_load_weights_errors_and_warnings_match_tf_keras(label, model_kwargs, load_kwargs, caplog):
    want = REF["messages"][label]
    model = cases.message_model(gk, **model_kwargs)
    before = model.get_weights()
    with caplog.at_level(logging.WARNING, logger="graphkeras"):
        if want["error"] is None:
            model.load_weights(FIX / "msg_weights.h5", **load_kwargs)
        else:
            kind = {"ValueError": ValueError}[want["error"][0]]
            with pytest.raises(kind) as info:
                model.load_weights(FIX / "msg_weights.h5", **load_kwargs)
            if label == "topological_shape":  # tf.keras' text here is TensorFlow's
                assert "Shape mismatch" in str(info.value) and "(8, 5)" in str(info.value)
            else:
                assert str(info.value) == want["error"][1]
            for a, b in zip(model.get_weights(), before):  # nothing was assigned
                assert np.array_equal(a, b)
    assert [r.getMessage() for r in caplog.records] == want["warnings"]
    if label.endswith("_skip"):
        saved = file_weights(FIX / "msg_weights.h5")
        assert np.array_equal(model.get_layer("a").get_weights()[0], saved["a"][0])
        assert np.array_equal(model.get_layer("b").get_weights()[0], before[2])


def test_load_weights_by_name_into_another_architecture():
    inp = gk.Input((6,), name="features")
    h = gk.layers.Dense(16, activation="relu", name="hidden")(inp)
    h = gk.layers.Dense(7, name="extra")(h)
    model = gk.Model(inp, gk.layers.Dense(4, name="probs_other")(h))
    extra = model.get_layer("extra").get_weights()
    model.load_weights(FIX / "mlp_weights.h5", by_name=True)
    saved = file_weights(FIX / "mlp_weights.h5")
    for a, b in zip(model.get_layer("hidden").get_weights(), saved["hidden"]):
        assert np.array_equal(a, b)
    for a, b in zip(model.get_layer("extra").get_weights(), extra):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #1 \(named extra in "
                                         r"the current model, bn in the save file\)"):
        model.load_weights(FIX / "mlp_weights.h5")


def test_load_weights_from_full_model_file():
    model = cases.build(gk, "seq")
    model.load_weights(FIX / "seq.h5")
    np.testing.assert_allclose(model.predict(x_y("seq")[0], verbose=0), ARR["seq/predict"],
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ overwrite and atomicity
def _trained_mlp():
    model = cases.build(gk, "mlp")
    model.compile(**cases.compile_args(gk, "mlp"))
    x, y = x_y("mlp")
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    return model


def test_overwrite_false_refuses_without_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    model = _trained_mlp()
    path = tmp_path / "m.h5"
    path.write_bytes(b"previous")
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    with pytest.raises(FileExistsError):
        model.save_weights(path, overwrite=False)
    assert path.read_bytes() == b"previous"
    model.save(path)  # overwrite=True (the default) replaces it
    assert gk.models.load_model(path)._is_compiled


@pytest.mark.parametrize("what", ["save", "save_weights"])
def test_failure_mid_write_keeps_previous_file(tmp_path, monkeypatch, what):
    model = _trained_mlp()
    path = tmp_path / "m.h5"
    getattr(model, what)(path)
    previous = path.read_bytes()
    calls = {"n": 0}
    original = hdf5._write_weight_group

    def failing(group, weights):
        calls["n"] += 1
        if calls["n"] == 3:  # some layers are already written
            raise OSError("disk full")
        return original(group, weights)

    monkeypatch.setattr(hdf5, "_write_weight_group", failing)
    model.fit(*x_y("mlp"), epochs=1, batch_size=32, verbose=0)  # new weights to write
    with pytest.raises(OSError, match="disk full"):
        getattr(model, what)(path)
    assert calls["n"] == 3
    assert path.read_bytes() == previous
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]
    monkeypatch.setattr(hdf5, "_write_weight_group", original)
    getattr(model, what)(path)
    assert path.read_bytes() != previous
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


def test_written_file_has_default_permissions(tmp_path):
    model = cases.build(gk, "seq")
    model.save(tmp_path / "m.h5")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "m.h5").st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------ subclassed and custom
class _Sub(gk.Model):
    def __init__(self):
        super().__init__()
        self.d1 = gk.layers.Dense(4, activation="relu")
        self.d2 = gk.layers.Dense(2)

    def call(self, inputs, training=False):
        return self.d2(self.d1(inputs))


def test_subclassed_model_refused_with_clear_error(tmp_path):
    model = _Sub()
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    model(x)
    with pytest.raises(ValueError, match=r"subclassed.*\.keras") as info:
        model.save(tmp_path / "s.h5")
    assert "Functional model or a Sequential model" in str(info.value)
    assert os.listdir(tmp_path) == []
    model.save_weights(tmp_path / "w.h5")  # weights of a subclassed model are fine
    other = _Sub()
    with pytest.raises(ValueError, match="has not created its variables yet"):
        other.load_weights(tmp_path / "w.h5")
    other(x)
    other.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


class Scale(gk.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return gk.ops.multiply(inputs, self.factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _custom_model(layer_cls):
    inp = gk.Input((3,), name="x")
    h = gk.layers.Dense(4, name="d")(inp)
    return gk.Model(inp, layer_cls(3.0, name="scale")(h))


def my_loss(y_true, y_pred):
    return gk.ops.mean(gk.ops.square(gk.ops.subtract(y_true, y_pred)), axis=-1)


def test_custom_objects(tmp_path):
    model = _custom_model(Scale)
    model.compile("adam", loss=my_loss)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model.fit(x, np.zeros((8, 4), "float32"), verbose=0)
    model.save(tmp_path / "c.h5")
    assert attrs_json(tmp_path / "c.h5", "training_config")["loss"] == "my_loss"
    with pytest.raises(ValueError, match="custom_objects"):
        gk.models.load_model(tmp_path / "c.h5")
    with pytest.raises(ValueError, match="my_loss"):
        gk.models.load_model(tmp_path / "c.h5", custom_objects={"Scale": Scale})
    loaded = gk.models.load_model(tmp_path / "c.h5",
                                  custom_objects={"Scale": Scale, "my_loss": my_loss})
    assert isinstance(loaded.get_layer("scale"), Scale) and loaded.get_layer("scale").factor == 3.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == 1
    loaded.fit(x, np.zeros((8, 4), "float32"), verbose=0)
    loaded = gk.models.load_model(tmp_path / "c.h5", compile=False,
                                  custom_objects={"Scale": Scale})
    assert not loaded._is_compiled


def test_registered_class_loads_without_custom_objects(tmp_path):
    @gk.utils.register_keras_serializable(package="SavingTest")
    class RegisteredScale(Scale):
        pass

    model = _custom_model(RegisteredScale)
    model.save(tmp_path / "r.h5")
    layers = attrs_json(tmp_path / "r.h5", "model_config")["config"]["layers"]
    assert layers[-1]["class_name"] == "SavingTest>RegisteredScale"  # tf.keras' legacy entry
    loaded = gk.models.load_model(tmp_path / "r.h5")
    assert type(loaded.get_layer("scale")) is RegisteredScale
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


# ------------------------------------------------------------------ attribute chunking
def test_long_attribute_lists_are_split_as_tf_keras_splits_them(tmp_path):
    names = [("n%04d" % i) + "x" * 95 for i in range(1000)]  # 100 kB > the 64 kB header
    with h5py.File(tmp_path / "a.h5", "w") as f:
        hdf5.save_attributes(f, "layer_names", names)
        hdf5.save_attributes(f, "weight_names", [])
        hdf5.save_attributes(f, "short", ["a", "bb"])
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert sorted(f.attrs) == ["layer_names0", "layer_names1", "short", "weight_names"]
        assert f.attrs["layer_names0"].dtype == np.dtype("S100")
        assert f.attrs["layer_names0"].shape == (500,)
        assert f.attrs["weight_names"].dtype == np.float64 and f.attrs["weight_names"].shape == (0,)
        assert hdf5.load_attributes(f, "layer_names") == names
        assert hdf5.load_attributes(f, "weight_names") == []
        assert hdf5.load_attributes(f, "short") == ["a", "bb"]
