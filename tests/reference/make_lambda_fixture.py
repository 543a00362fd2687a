"""Record a hostile tf.keras file for tests/saving/test_safety.py: a model whose
Lambda layer holds its function as Python bytecode, and that function, if it ever
runs, writes a marker file.

Writes into ``tests/fixtures/saving_safety/``:

``lambda_bytecode.h5``   Input(4) -> Dense(3, "dense") -> Lambda("marker_lambda") ->
                         Dense(2, "out"), compiled (Adam, mse), saved by tf.keras' ``.h5``
                         writer. tf.keras stores the Lambda's function as marshalled
                         bytecode (``function_type: "lambda"``) with its defaults and
                         closure. The function doubles its input and, as a side effect,
                         appends to the file named by the environment variable held in
                         its closure (``GK_LAMBDA_MARKER``), or to its default argument
                         ``graphkeras_lambda_marker.txt`` in the working directory.
``lambda_bytecode.npz``  ``x`` and tf.keras' predictions ``y`` for it.
``lambda_bytecode.json`` ``to_json`` (tf.keras' JSON of the same model), the Lambda's
                         config entry, and ``tf_keras_load_ran_code``: whether loading the
                         file with tf.keras (no ``custom_objects``) created the marker, which
                         proves the file really carries code that runs when loaded naively.

Run from the repository root::

    TF_USE_LEGACY_KERAS=1 .venv-ref/bin/python tests/reference/make_lambda_fixture.py
"""
from __future__ import annotations

import json
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

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "saving_safety"
MARKER_ENV = "GK_LAMBDA_MARKER"


def make_marker_function():
    marker_env = MARKER_ENV  # a closure cell: tf.keras stores its value in the config

    def double_and_mark(x, fallback="graphkeras_lambda_marker.txt"):
        import os as _os
        path = _os.environ.get(marker_env) or fallback
        with open(path, "a") as f:
            f.write("code from the saved file ran\n")
        return x * 2.0

    return double_and_mark


def build():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, activation="tanh", name="dense")(inputs)
    h = keras.layers.Lambda(make_marker_function(), name="marker_lambda")(h)
    outputs = keras.layers.Dense(2, name="out")(h)
    model = keras.Model(inputs, outputs, name="lambda_model")
    model.compile(optimizer="adam", loss="mse")
    return model


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[MARKER_ENV] = os.path.join(tmp, "marker_while_saving")
        model = build()
        x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
        y = model.predict(x, verbose=0)
        path = OUT / "lambda_bytecode.h5"
        model.save(path)
        to_json = model.to_json()

        # loading it naively with tf.keras runs the function: the marker appears
        marker = os.path.join(tmp, "marker_on_load")
        os.environ[MARKER_ENV] = marker
        keras.backend.clear_session()
        loaded = keras.models.load_model(path)
        ran = os.path.exists(marker)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), y, rtol=1e-6)
        del os.environ[MARKER_ENV]

    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Lambda")
    assert entry["config"]["function_type"] == "lambda", entry
    np.savez(OUT / "lambda_bytecode.npz", x=x, y=y)
    record = {"tf_keras_load_ran_code": ran, "marker_env": MARKER_ENV,
              "lambda_entry": entry, "to_json": to_json,
              "python": sys.version.split()[0], "tensorflow": tf.__version__,
              "tf_keras": keras.__version__}
    (OUT / "lambda_bytecode.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}; tf.keras load ran the file's code: {ran}")


if __name__ == "__main__":
    main()
