"""Models, data and compile settings shared by ``tests/reference/make_saving_fixtures.py``
(run with tf_keras), ``tests/saving/make_graphkeras_files.py`` and the tests (run with
graphkeras). Every function takes the ``keras`` module to build with, so the same
definition gives the same model in both libraries. Every layer is named, so names do not
depend on counters."""
from __future__ import annotations

import numpy as np

# full-model cases: name -> (epochs trained before saving, epochs of the continued fit)
FIT_CASES = {"mlp": (3, 2), "cnn": (2, 2), "seq": (3, 2), "multi": (2, 2), "nested": (2, 2)}
BATCH_SIZE = 16


def data(case):
    """``(x, y)`` for a case; ``y`` is a dict for the two-output model."""
    rng = np.random.default_rng({"mlp": 1, "cnn": 2, "seq": 3, "multi": 4, "legacy": 5,
                                 "nested": 6}[case])
    if case in ("mlp", "legacy", "nested"):
        x = rng.normal(size=(64, 6)).astype("float32")
        y = rng.integers(0, 4, size=64).astype("int64")
    elif case == "cnn":
        x = rng.normal(size=(48, 8, 8, 1)).astype("float32")
        y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=48)]
    elif case == "seq":
        x = rng.normal(size=(64, 5)).astype("float32")
        y = (0.5 * x[:, :1] + x[:, 1:2] ** 2 - x[:, 2:3]).astype("float32")
    elif case == "multi":
        x = rng.normal(size=(64, 5)).astype("float32")
        y = {"reg": rng.normal(size=(64, 2)).astype("float32"),
             "cls": rng.integers(0, 2, size=(64, 1)).astype("float32")}
    else:
        raise KeyError(case)
    return x, y


def build(keras, case):
    """The (uncompiled) model of a case."""
    L = keras.layers
    if case in ("mlp", "legacy"):
        inp = keras.Input((6,), name="features")
        h = L.Dense(16, activation="relu", name="hidden")(inp)
        h = L.BatchNormalization(name="bn")(h)
        out = L.Dense(4, activation="softmax", name="probs")(h)
        return keras.Model(inp, out, name="mlp")
    if case == "cnn":
        inp = keras.Input((8, 8, 1), name="image")
        h = L.Conv2D(4, 3, padding="same", name="conv")(inp)
        h = L.BatchNormalization(name="conv_bn")(h)
        h = L.Activation("relu", name="relu")(h)
        h = L.MaxPooling2D(2, name="pool")(h)
        h = L.Dropout(0.25, name="drop")(h)
        h = L.Flatten(name="flat")(h)
        out = L.Dense(3, activation="softmax", name="classes")(h)
        return keras.Model(inp, out, name="cnn")
    if case == "seq":
        return keras.Sequential([
            L.Dense(12, activation="relu", input_shape=(5,), name="d1"),
            L.Dense(6, activation="tanh", name="d2"),
            L.Dense(1, name="d3")], name="seq")
    if case == "multi":
        inp = keras.Input((5,), name="inputs")
        h = L.Dense(8, activation="relu", name="trunk")(inp)
        reg = L.Dense(2, name="reg")(h)
        cls = L.Dense(1, activation="sigmoid", name="cls")(h)
        return keras.Model(inp, [reg, cls], name="multi")
    if case == "nested":  # a Sequential block inside a functional model
        block = keras.Sequential([
            L.Dense(8, activation="relu", input_shape=(6,), name="inner_dense"),
            L.BatchNormalization(name="inner_bn")], name="block")
        inp = keras.Input((6,), name="features")
        out = L.Dense(4, activation="softmax", name="head")(block(inp))
        return keras.Model(inp, out, name="nested")
    raise KeyError(case)


def compile_args(keras, case):
    opt = keras.optimizers
    if case == "mlp":
        return dict(optimizer=opt.Adam(0.01), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"],
                    weighted_metrics=[keras.metrics.SparseCategoricalCrossentropy(name="wce")])
    if case == "legacy":
        return dict(optimizer=keras.optimizers.legacy.Adam(0.01),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if case == "cnn":
        return dict(optimizer=opt.SGD(0.05, momentum=0.9, nesterov=True),
                    loss="categorical_crossentropy", metrics=["accuracy"])
    if case == "seq":
        return dict(optimizer=opt.RMSprop(0.01, momentum=0.5, centered=True), loss="mse",
                    metrics=["mae"])
    if case == "multi":
        return dict(optimizer=opt.Adam(0.005, amsgrad=True),
                    loss={"reg": "mse", "cls": "binary_crossentropy"},
                    loss_weights={"reg": 1.0, "cls": 0.5},
                    metrics={"reg": ["mae"], "cls": ["accuracy"]})
    if case == "nested":
        return dict(optimizer=opt.Adamax(0.02), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    raise KeyError(case)


def disable_dropout(model):
    """Dropout masks come from different random generators in tf.keras and graphkeras:
    continued-fit comparisons run with the rate set to 0 on both sides."""
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0


# ------------------------------------------------------------------ training_config cases
def _dense_model(keras, units=3, name="m"):
    inp = keras.Input((4,), name="x")
    return keras.Model(inp, keras.layers.Dense(units, name="d")(inp), name=name)


def _two_outputs(keras):
    inp = keras.Input((4,), name="x")
    a = keras.layers.Dense(2, name="a")(inp)
    b = keras.layers.Dense(1, name="b")(inp)
    return keras.Model(inp, [a, b], name="two")


def training_config_case(keras, case):
    """A compiled (never trained) model whose training_config tf.keras records."""
    if case == "mse_accuracy":
        m = _dense_model(keras)
        m.compile("adam", "mse", metrics=["accuracy"])
    elif case == "sparse_strings":
        m = _dense_model(keras)
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", "ce"])
    elif case == "objects":
        m = _dense_model(keras)
        m.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(), "mae",
                           keras.metrics.Precision(name="prec")])
    elif case == "binary_weighted":
        m = _dense_model(keras, units=1)
        m.compile("adam", "mse", metrics=["accuracy"], weighted_metrics=["accuracy"])
    elif case == "multi_dicts":
        m = _two_outputs(keras)
        m.compile("adam", {"a": "mse", "b": "binary_crossentropy"},
                  loss_weights={"a": 1.0, "b": 0.3}, metrics={"a": ["mae"], "b": ["accuracy"]},
                  weighted_metrics=["mse"])
    elif case == "multi_partial":
        m = _two_outputs(keras)
        m.compile("adam", ["mse", "mse"], loss_weights=[1.0, 0.5], metrics={"a": ["mae"]})
    elif case == "multi_lists":
        m = _two_outputs(keras)
        m.compile("adam", "mse", metrics=[["mae"], ["mse", "acc"]])
    elif case == "schedule":
        m = _dense_model(keras)
        m.compile(keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
                  "mse")
    elif case == "no_metrics_rmsprop":
        m = _dense_model(keras)
        m.compile(keras.optimizers.RMSprop(), keras.losses.MeanSquaredError(),
                  metrics=[keras.metrics.MeanSquaredError(name="m2")])
    else:
        raise KeyError(case)
    return m


TRAINING_CONFIG_CASES = ["mse_accuracy", "sparse_strings", "objects", "binary_weighted",
                         "multi_dicts", "multi_partial", "multi_lists", "schedule",
                         "no_metrics_rmsprop"]


# ------------------------------------------------------------------ optimizer weight names
# name -> factory taking the optimizers module (``keras.optimizers`` or its ``legacy``)
OPTIMIZERS = {
    "SGD": lambda m: m.SGD(momentum=0.9), "SGD_plain": lambda m: m.SGD(),
    "RMSprop": lambda m: m.RMSprop(momentum=0.5, centered=True),
    "RMSprop_plain": lambda m: m.RMSprop(), "Adam": lambda m: m.Adam(amsgrad=True),
    "Adam_plain": lambda m: m.Adam(), "Adagrad": lambda m: m.Adagrad(),
    "Adadelta": lambda m: m.Adadelta(), "Adamax": lambda m: m.Adamax(),
    "Nadam": lambda m: m.Nadam(), "Ftrl": lambda m: m.Ftrl(), "AdamW": lambda m: m.AdamW()}


# ------------------------------------------------------------------ weights-loading messages
def message_model(keras, units=(8, 3), names=("a", "b"), inputs=4, bias=True):
    """``x -> Dense(units[0], name=names[0]) -> ...``; ``bias=False`` drops the last bias."""
    inp = keras.Input((inputs,), name="x")
    h = inp
    for i, (u, n) in enumerate(zip(units, names)):
        last = i == len(units) - 1
        h = keras.layers.Dense(u, name=n, use_bias=bias or not last)(h)
    return keras.Model(inp, h, name="msg")


# (label, model kwargs, load_weights kwargs)
MESSAGE_CASES = [
    ("layer_count", dict(units=(8, 3, 2), names=("a", "b", "c")), {}),
    ("skip_without_by_name", {}, dict(skip_mismatch=True)),
    ("by_name_shape", dict(units=(8, 5)), dict(by_name=True)),
    ("by_name_shape_skip", dict(units=(8, 5)), dict(by_name=True, skip_mismatch=True)),
    ("weight_count", dict(bias=False), {}),
    ("by_name_weight_count", dict(bias=False), dict(by_name=True)),
    ("by_name_weight_count_skip", dict(bias=False), dict(by_name=True, skip_mismatch=True)),
    ("topological_shape", dict(units=(8, 5)), {}),
]


# ------------------------------------------------------------------ graphkeras-written files
GK_FILES = ["mlp", "cnn", "seq", "nested"]  # full models graphkeras writes for tf.keras to read
