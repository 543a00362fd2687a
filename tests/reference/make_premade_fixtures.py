"""Generate reference fixtures for the premade models (``LinearModel``,
``WideDeepModel``) from real tf.keras 2.x.

Each case builds a premade model (the same constructions as
``tests/models/test_premade.py``), calls it on its inputs, sets fixed random
initial weights, records ``predict`` and then fits it for 2 epochs
(batch size 8, ``shuffle=False``), recording the History and the final weights.

Writes into ``tests/fixtures/premade/``:

``<case>.npz``
    ``x_<name>`` (the inputs; ``<name>`` is the dict key, or the position in the
    input list), ``y``, ``w_init0..``, ``pred``, ``w_final0..``.
``cases.json``
    ``{case: {"input_names", "weight_names", "weight_shapes", "config", "history"}}``
    (``config`` is tf.keras' ``get_config()`` as built; weight names exactly as
    tf.keras prints them, ``:0`` included).

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_premade_fixtures.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "premade"
F32 = np.float32
N = 16
LM = keras.experimental.LinearModel
WD = keras.experimental.WideDeepModel


def data(rng, kind):
    """Inputs (array, list or dict) and targets of a case."""
    if kind == "single":
        return rng.normal(size=(N, 3)).astype(F32), rng.normal(size=(N, 2)).astype(F32)
    if kind == "list":
        x = [rng.normal(size=(N, 3)).astype(F32), rng.normal(size=(N, 2)).astype(F32)]
        return x, rng.normal(size=(N, 1)).astype(F32)
    if kind == "dict":
        x = {"b": rng.normal(size=(N, 3)).astype(F32), "a": rng.normal(size=(N, 2)).astype(F32)}
        return x, rng.integers(0, 2, size=(N, 1)).astype(F32)
    if kind == "wide_deep":
        x = [rng.normal(size=(N, 3)).astype(F32), rng.normal(size=(N, 5)).astype(F32)]
        return x, rng.normal(size=(N, 1)).astype(F32)
    if kind == "shared":
        return rng.normal(size=(N, 4)).astype(F32), rng.integers(0, 2, size=(N, 1)).astype(F32)
    raise ValueError(kind)


def wide_deep(hidden, n_in, activation=None, dnn_activation="relu"):
    linear = LM()
    dnn = keras.Sequential([keras.layers.Dense(hidden, activation=dnn_activation,
                                               input_shape=(n_in,)),
                            keras.layers.Dense(1)])
    return WD(linear, dnn, activation=activation)


# case -> (data kind, model maker, compile kwargs maker)
CASES = {
    "linear_single": ("single", lambda: LM(units=2),
                      lambda: dict(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                                   metrics=["mae"])),
    "linear_list_regularized": (
        "list",
        lambda: LM(units=1, kernel_regularizer=keras.regularizers.l2(0.05),
                   bias_regularizer=keras.regularizers.l1(0.05)),
        lambda: dict(optimizer=keras.optimizers.SGD(0.1), loss="mse")),
    "linear_dict_sigmoid": (
        "dict",
        lambda: LM(units=1, activation="sigmoid",
                   kernel_regularizer=keras.regularizers.l1_l2(l1=0.01, l2=0.02)),
        lambda: dict(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                     metrics=["accuracy"])),
    "wide_deep_one_optimizer": (
        "wide_deep", lambda: wide_deep(4, 5),
        lambda: dict(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])),
    "wide_deep_two_optimizers": (
        "wide_deep", lambda: wide_deep(4, 5),
        lambda: dict(optimizer=[keras.optimizers.SGD(0.1), keras.optimizers.Adam(0.01)],
                     loss="mse", metrics=["mae"])),
    "wide_deep_shared_input": (
        "shared", lambda: wide_deep(3, 4, activation="sigmoid", dnn_activation="tanh"),
        lambda: dict(optimizer=[keras.optimizers.SGD(0.2, momentum=0.9),
                                keras.optimizers.RMSprop(0.01)],
                     loss="binary_crossentropy", metrics=["accuracy"])),
}


def flat_inputs(x):
    if isinstance(x, dict):
        return {k: x[k] for k in sorted(x)}
    if isinstance(x, list):
        return {str(i): a for i, a in enumerate(x)}
    return {"0": x}


def run_case(seed, kind, make_model, make_compile):
    keras.backend.clear_session()
    rng = np.random.default_rng(seed)
    x, y = data(rng, kind)
    model = make_model()
    model(x)
    w_init = [(rng.normal(size=w.shape) * 0.5).astype(F32) for w in model.get_weights()]
    model.set_weights(w_init)
    pred = model.predict(x, verbose=0)
    config = model.get_config()
    names = [w.name for w in model.weights]
    shapes = [list(w.shape) for w in model.weights]
    model.compile(**make_compile())
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    arrays = {f"x_{k}": v for k, v in flat_inputs(x).items()}
    arrays["y"] = y
    arrays["pred"] = pred
    arrays.update({f"w_init{i}": w for i, w in enumerate(w_init)})
    arrays.update({f"w_final{i}": w for i, w in enumerate(model.get_weights())})
    meta = {"input_names": list(flat_inputs(x)), "weight_names": names, "weight_shapes": shapes,
            "config": json.loads(json.dumps(config, default=list)),
            "history": {k: [float(v) for v in vals] for k, vals in history.items()}}
    return arrays, meta


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cases = {}
    for seed, (case, (kind, make_model, make_compile)) in enumerate(CASES.items()):
        arrays, meta = run_case(seed, kind, make_model, make_compile)
        np.savez(OUT_DIR / f"{case}.npz", **arrays)
        cases[case] = meta
        print(case, meta["history"])
    (OUT_DIR / "cases.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
