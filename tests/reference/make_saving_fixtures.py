"""Record tf.keras' side of the HDF5 saving tests (tests/saving/test_hdf5.py).

Writes into ``tests/fixtures/saving/``:

``<case>.h5``            full models saved by tf.keras after a few epochs of training, so
                         the optimizer state is not trivial (cases of
                         tests/saving/saving_cases.py: ``mlp`` functional Dense/BatchNorm with
                         Adam, ``cnn`` Conv2D/BatchNorm/Dropout with SGD+Nesterov, ``seq``
                         Sequential with centered RMSprop, ``multi`` two outputs with dict
                         losses/loss_weights/metrics and AMSGrad; ``legacy`` uses the
                         pre-2.11 ``legacy.Adam``, whose slots are named differently);
``<case>_weights.h5``    weights-only files (``save_weights``) of ``mlp`` and ``seq``;
``msg_weights.h5``,      the small model and weights used for tf.keras' load_weights
``msg_model.h5``         errors and warnings, and an uncompiled full model;
``arrays.npz``           per case: ``x``, ``y`` (``y/<output>``), ``predict`` (the saved
                         model's predictions), ``predict_after_fit`` (after continuing);
                         ``/<i>`` appended for the outputs of a two-output model;
``reference.json``       per case (``legacy`` too: tf.keras loads it with a legacy optimizer,
                         whose Adam update is the same): ``evaluate`` and ``history`` of
                         tf.keras' model loaded from the file (``fit`` continued for a few
                         more epochs, no shuffling, Dropout rate set to 0 on both sides),
                         ``metrics_names``, ``resaved_training_config`` (what tf.keras writes
                         when it saves the model it loaded);
                         ``training_configs`` (tf.keras' JSON for compile settings);
                         ``optimizer_names`` (optimizer weight names, shapes and dtypes per
                         optimizer, current and legacy); ``messages`` (tf.keras' load_weights
                         errors/warnings); ``legacy_optimizer`` (whether tf.keras restores a
                         legacy optimizer state);
``from_graphkeras/tf_keras_check.json``  tf.keras loading the files graphkeras wrote
                         (tests/saving/make_graphkeras_files.py): loads, predicts the same,
                         keeps the optimizer state, and the layout it writes itself for the
                         same model trained the same way equals graphkeras'.

Run from the repository root, after tests/saving/make_graphkeras_files.py::

    TF_USE_LEGACY_KERAS=1 .venv-ref/bin/python tests/reference/make_saving_fixtures.py
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import warnings  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

warnings.filterwarnings("ignore", message=".*HDF5 file via `model.save\\(\\)`.*")

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "saving"))
import h5layout  # noqa: E402
import saving_cases as cases  # noqa: E402

OUT = TESTS / "fixtures" / "saving"
FROM_GK = OUT / "from_graphkeras"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


CAPTURE = _Capture()
logging.getLogger("tensorflow").addHandler(CAPTURE)


def fresh():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def history_dict(history):
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def put_y(arrays, case, y):
    if isinstance(y, dict):
        for k, v in y.items():
            arrays[f"{case}/y/{k}"] = v
    else:
        arrays[f"{case}/y"] = y


def put_pred(arrays, key, pred):
    if isinstance(pred, (list, tuple)):
        for i, p in enumerate(pred):
            arrays[f"{key}/{i}"] = p
    else:
        arrays[key] = pred


def record_fit_case(case, reference, arrays):
    fresh()
    x, y = cases.data(case)
    model = cases.build(keras, case)
    model.compile(**cases.compile_args(keras, case))
    before, after = cases.FIT_CASES.get(case, (2, 2))
    model.fit(x, y, epochs=before, batch_size=cases.BATCH_SIZE, shuffle=False, verbose=0)
    path = OUT / f"{case}.h5"
    model.save(path)
    if case in ("mlp", "seq"):
        model.save_weights(OUT / f"{case}_weights.h5")
    arrays[f"{case}/x"] = x
    put_y(arrays, case, y)
    put_pred(arrays, f"{case}/predict", model.predict(x, verbose=0))
    fresh()
    loaded = keras.models.load_model(path)
    with tempfile.TemporaryDirectory() as tmp:  # what tf.keras writes for its reloaded model
        loaded.save(os.path.join(tmp, "again.h5"))
        with h5py.File(os.path.join(tmp, "again.h5"), "r") as f:
            resaved_training_config = json.loads(f.attrs["training_config"])
    evaluate = loaded.evaluate(x, y, batch_size=cases.BATCH_SIZE, verbose=0, return_dict=True)
    cases.disable_dropout(loaded)
    history = loaded.fit(x, y, epochs=after, batch_size=cases.BATCH_SIZE, shuffle=False,
                         verbose=0)
    put_pred(arrays, f"{case}/predict_after_fit", loaded.predict(x, verbose=0))
    reference[case] = {"evaluate": {k: float(v) for k, v in evaluate.items()},
                       "history": history_dict(history),
                       "metrics_names": list(loaded.metrics_names),
                       "resaved_training_config": resaved_training_config,
                       "epochs": after, "batch_size": cases.BATCH_SIZE}
    return model


def record_legacy(reference):
    """tf.keras 2.11+ loads a legacy optimizer's file into a current optimizer: does it
    keep the saved slots?"""
    path = OUT / "legacy.h5"
    fresh()
    CAPTURE.messages.clear()
    loaded = keras.models.load_model(path)
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["optimizer_weights"].attrs["weight_names"]]
        saved = [np.asarray(f["optimizer_weights"][n]) for n in names]
    variables = loaded.optimizer.variables
    variables = variables() if callable(variables) else variables
    current = [v.numpy() for v in variables]
    restored = len(current) == len(saved) and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(current, saved))
    reference["legacy_optimizer"] = {"saved_names": names,
                           "loaded_optimizer": type(loaded.optimizer).__module__ + "."
                           + type(loaded.optimizer).__name__,
                           "loaded_names": [v.name for v in variables],
                           "tf_keras_restored_state": bool(restored),
                           "warnings": [m for m in CAPTURE.messages if "optimizer" in m]}


def record_training_configs(reference):
    out = {}
    for case in cases.TRAINING_CONFIG_CASES:
        fresh()
        model = cases.training_config_case(keras, case)
        with tempfile.TemporaryDirectory() as tmp:
            model.save(os.path.join(tmp, "m.h5"))
            with h5py.File(os.path.join(tmp, "m.h5"), "r") as f:
                out[case] = json.loads(f.attrs["training_config"])
    reference["training_configs"] = out


def record_optimizer_names(reference):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    out = {}
    for name, make in cases.OPTIMIZERS.items():
        for legacy in (False, True):
            if legacy and name == "AdamW":
                continue
            fresh()
            inp = keras.Input((3,), name="x")
            model = keras.Model(inp, keras.layers.Dense(2, name="d")(inp))
            model.compile(make(keras.optimizers.legacy if legacy else keras.optimizers), "mse")
            model.fit(x, y, batch_size=8, verbose=0)
            with tempfile.TemporaryDirectory() as tmp:
                model.save(os.path.join(tmp, "o.h5"))
                with h5py.File(os.path.join(tmp, "o.h5"), "r") as f:
                    g = f["optimizer_weights"]
                    names = [n.decode() if isinstance(n, bytes) else n
                             for n in g.attrs["weight_names"]]
                    out[name + ("_legacy" if legacy else "")] = [
                        [n, list(g[n].shape), str(g[n].dtype)] for n in names]
    reference["optimizer_names"] = out


def record_messages(reference):
    fresh()
    cases.message_model(keras).save_weights(OUT / "msg_weights.h5")
    cases.message_model(keras).save(OUT / "msg_model.h5")  # never compiled
    out = {}
    for label, model_kwargs, load_kwargs in cases.MESSAGE_CASES:
        fresh()
        model = cases.message_model(keras, **model_kwargs)
        CAPTURE.messages.clear()
        try:
            model.load_weights(OUT / "msg_weights.h5", **load_kwargs)
            out[label] = {"error": None, "warnings": list(CAPTURE.messages)}
        except Exception as err:  # noqa: BLE001 - recording tf.keras' error
            out[label] = {"error": [type(err).__name__, str(err)],
                          "warnings": list(CAPTURE.messages)}
    fresh()
    CAPTURE.messages.clear()
    keras.models.load_model(OUT / "msg_model.h5")
    out["no_training_config"] = {"error": None, "warnings": list(CAPTURE.messages)}

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sub.save(os.path.join(tmp, "s.h5"))
        out["subclassed_save"] = {"error": None}
    except Exception as err:  # noqa: BLE001
        out["subclassed_save"] = {"error": [type(err).__name__, str(err)]}
    reference["messages"] = out


def _diff(a, b, path=""):
    if type(a) is not type(b):
        return [path]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}")
            else:
                out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [path]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [path]


def check_graphkeras_files():
    """Load what graphkeras wrote with tf.keras; compare with what tf.keras writes."""
    if not (FROM_GK / "predictions.npz").exists():
        print("no graphkeras files: run tests/saving/make_graphkeras_files.py first")
        return
    predictions = dict(np.load(FROM_GK / "predictions.npz"))
    report = {}
    for case in cases.GK_FILES:
        path = FROM_GK / f"{case}.h5"
        x, y = cases.data(case)
        entry = {}
        fresh()
        try:
            model = keras.models.load_model(path)
        except Exception as err:  # noqa: BLE001
            report[case] = {"loaded": False, "error": f"{type(err).__name__}: {err}"}
            continue
        entry["loaded"] = True
        entry["max_abs_diff"] = float(np.max(np.abs(
            model.predict(x, verbose=0) - predictions[f"{case}/predict"])))
        entry["optimizer"] = type(model.optimizer).__name__
        entry["iterations"] = int(model.optimizer.iterations.numpy())
        with h5py.File(path, "r") as f:
            g = f["optimizer_weights"]
            saved = [np.asarray(g[n]) for n in g.attrs["weight_names"]]
            gk_training_config = json.loads(f.attrs["training_config"])
            gk_model_config = json.loads(f.attrs["model_config"])
        # tf.keras builds a loaded model's optimizer outside its name scope ("m/d/kernel:0"
        # instead of "Adam/m/d/kernel:0"): compare in order, as tf.keras restores it
        variables = model.optimizer.variables
        entry["optimizer_state_restored"] = bool(
            len(variables) == len(saved)
            and all(np.array_equal(v.numpy(), a) for v, a in zip(variables, saved)))
        evaluate = model.evaluate(x, y, batch_size=cases.BATCH_SIZE, verbose=0,
                                  return_dict=True)
        entry["evaluate"] = {k: float(v) for k, v in evaluate.items()}
        cases.disable_dropout(model)
        history = model.fit(x, y, epochs=1, batch_size=cases.BATCH_SIZE, shuffle=False,
                            verbose=0)
        entry["continued_fit_finite"] = bool(np.all(np.isfinite(history.history["loss"])))
        # the file tf.keras writes for the same model trained the same way, against graphkeras'
        fresh()
        model = cases.build(keras, case)
        model.compile(**cases.compile_args(keras, case))
        model.fit(x, y, epochs=cases.FIT_CASES[case][0], batch_size=cases.BATCH_SIZE,
                  shuffle=False, verbose=0)
        with tempfile.TemporaryDirectory() as tmp:
            resaved = os.path.join(tmp, "m.h5")
            model.save(resaved)
            tf_layout = h5layout.layout(resaved, values=True)
            with h5py.File(resaved, "r") as f:
                tf_training_config = json.loads(f.attrs["training_config"])
                tf_model_config = json.loads(f.attrs["model_config"])
        gk_layout = h5layout.layout(path, values=True)
        entry["layout_differences"] = sorted(k for k in set(tf_layout) | set(gk_layout)
                                             if tf_layout.get(k) != gk_layout.get(k))
        entry["training_config_differences"] = _diff(tf_training_config, gk_training_config)
        entry["model_config_differences"] = _diff(tf_model_config, gk_model_config)
        report[case] = entry
    fresh()
    model = cases.build(keras, "mlp")
    try:
        model.load_weights(FROM_GK / "mlp_weights.h5")
        diff = float(np.max(np.abs(model.predict(cases.data("mlp")[0], verbose=0)
                                   - predictions["mlp/predict"])))
        report["mlp_weights"] = {"loaded": True, "max_abs_diff": diff}
    except Exception as err:  # noqa: BLE001
        report["mlp_weights"] = {"loaded": False, "error": f"{type(err).__name__}: {err}"}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(os.path.join(tmp, "w.h5"))
        tf_layout = h5layout.layout(os.path.join(tmp, "w.h5"), values=True)
    gk_layout = h5layout.layout(FROM_GK / "mlp_weights.h5", values=True)
    report["mlp_weights"]["layout_differences"] = sorted(
        k for k in set(tf_layout) | set(gk_layout) if tf_layout.get(k) != gk_layout.get(k))
    report["_meta"] = {"tf_keras": keras.__version__, "tensorflow": tf.__version__,
                       "h5py": h5py.__version__}
    (FROM_GK / "tf_keras_check.json").write_text(json.dumps(report, indent=1, sort_keys=True)
                                                 + "\n")
    print(json.dumps(report, indent=1, sort_keys=True))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    reference, arrays = {}, {}
    for case in list(cases.FIT_CASES) + ["legacy"]:
        record_fit_case(case, reference, arrays)
    record_legacy(reference)
    record_training_configs(reference)
    record_optimizer_names(reference)
    record_messages(reference)
    reference["_meta"] = {"tf_keras": keras.__version__, "tensorflow": tf.__version__,
                          "h5py": h5py.__version__}
    np.savez_compressed(OUT / "arrays.npz", **arrays)
    (OUT / "reference.json").write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    check_graphkeras_files()


if __name__ == "__main__":
    main()
