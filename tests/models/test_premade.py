"""Premade models (``gk.models.LinearModel``, ``gk.models.WideDeepModel``) against
tf.keras numbers from ``tests/reference/make_premade_fixtures.py``."""
import json
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.models.premade import LinearModel, WideDeepModel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "premade"
CASES = json.loads((FIXTURES / "cases.json").read_text())
L = gk.layers


def wide_deep(hidden, n_in, activation=None, dnn_activation="relu"):
    linear = LinearModel()
    dnn = gk.Sequential([L.Dense(hidden, activation=dnn_activation, input_shape=(n_in,)),
                         L.Dense(1)])
    return WideDeepModel(linear, dnn, activation=activation)


# the same constructions as the fixture generator
MODELS = {
    "linear_single": (lambda: LinearModel(units=2),
                      lambda: dict(optimizer=gk.optimizers.SGD(0.1), loss="mse", metrics=["mae"])),
    "linear_list_regularized": (
        lambda: LinearModel(units=1, kernel_regularizer=gk.regularizers.l2(0.05),
                            bias_regularizer=gk.regularizers.l1(0.05)),
        lambda: dict(optimizer=gk.optimizers.SGD(0.1), loss="mse")),
    "linear_dict_sigmoid": (
        lambda: LinearModel(units=1, activation="sigmoid",
                            kernel_regularizer=gk.regularizers.l1_l2(l1=0.01, l2=0.02)),
        lambda: dict(optimizer=gk.optimizers.SGD(0.5), loss="binary_crossentropy",
                     metrics=["accuracy"])),
    "wide_deep_one_optimizer": (
        lambda: wide_deep(4, 5),
        lambda: dict(optimizer=gk.optimizers.SGD(0.05), loss="mse", metrics=["mae"])),
    "wide_deep_two_optimizers": (
        lambda: wide_deep(4, 5),
        lambda: dict(optimizer=[gk.optimizers.SGD(0.1), gk.optimizers.Adam(0.01)], loss="mse",
                     metrics=["mae"])),
    "wide_deep_shared_input": (
        lambda: wide_deep(3, 4, activation="sigmoid", dnn_activation="tanh"),
        lambda: dict(optimizer=[gk.optimizers.SGD(0.2, momentum=0.9),
                                gk.optimizers.RMSprop(0.01)],
                     loss="binary_crossentropy", metrics=["accuracy"])),
}


def load(case):
    meta = CASES[case]
    arrays = dict(np.load(FIXTURES / f"{case}.npz"))
    names = meta["input_names"]
    xs = [arrays[f"x_{n}"] for n in names]
    if names == ["0"]:
        x = xs[0]
    elif names[0].isdigit():
        x = xs
    else:
        x = dict(zip(names, xs))
    w_init = [arrays[f"w_init{i}"] for i in range(len(meta["weight_names"]))]
    w_final = [arrays[f"w_final{i}"] for i in range(len(meta["weight_names"]))]
    return meta, x, arrays["y"], arrays["pred"], w_init, w_final


def assert_config_close(got, want):
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), (got, want)
        for key in want:
            assert_config_close(got[key], want[key])
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6)
    else:
        assert got == want


def build(case, x, w_init):
    model = MODELS[case][0]()
    model(x)
    model.set_weights(w_init)
    return model


@pytest.mark.parametrize("case", sorted(MODELS))
def test_predict_and_fit_match_tf_keras(case):
    assert sorted(MODELS) == sorted(CASES)
    meta, x, y, pred, w_init, w_final = load(case)
    model = build(case, x, w_init)
    assert [w.name for w in model.weights] == meta["weight_names"]
    assert [list(w.shape) for w in model.weights] == meta["weight_shapes"]
    np.testing.assert_allclose(model.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)
    model.compile(**MODELS[case][1]())
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert sorted(history) == sorted(meta["history"])
    for key, values in meta["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    for got, want, name in zip(model.get_weights(), w_final, meta["weight_names"]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)


def test_eager_predict_equals_compiled():
    meta, x, y, pred, w_init, _ = load("wide_deep_one_optimizer")
    model = build("wide_deep_one_optimizer", x, w_init)
    compiled = model.predict(x, verbose=0)
    model.run_eagerly = True
    np.testing.assert_allclose(model.predict(x, verbose=0), compiled, rtol=1e-6, atol=1e-6)


def test_two_optimizers_each_update_their_own_model():
    meta, x, y, _, w_init, _ = load("wide_deep_two_optimizers")
    model = build("wide_deep_two_optimizers", x, w_init)
    sgd, adam = gk.optimizers.SGD(0.1), gk.optimizers.Adam(0.01)
    model.compile(optimizer=[sgd, adam], loss="mse")
    assert model.optimizer == [sgd, adam]
    model.train_on_batch(x, y)
    assert int(sgd.iterations.numpy()) == 1 and int(adam.iterations.numpy()) == 1
    # Adam's slots cover exactly the DNN's variables
    dnn_paths = {w.path for w in model.dnn_model.trainable_weights}
    slots = {v.name for v in adam.variables if "/m/" in v.name}
    assert slots == {f"Adam/m/{p}:0" for p in dnn_paths}
    # strings are resolved one by one, as tf.keras does
    model.compile(optimizer=["sgd", "adam"], loss="mse")
    assert [type(o).__name__ for o in model.optimizer] == ["SGD", "Adam"]


def test_linear_config_round_trip_and_tf_keras_config():
    meta = CASES["linear_dict_sigmoid"]
    model = MODELS["linear_dict_sigmoid"][0]()
    assert_config_close(model.get_config(), meta["config"])  # tf.keras stores float32 factors
    clone = LinearModel.from_config(model.get_config())
    assert clone.get_config() == {**model.get_config(), "name": clone.name}
    restored = gk.models.model_from_json(model.to_json())
    assert isinstance(restored, LinearModel)
    assert restored.get_config() == model.get_config()
    assert json.loads(model.to_json())["class_name"] == "LinearModel"


def test_wide_deep_config_round_trip():
    meta, x, _, pred, w_init, _ = load("wide_deep_shared_input")
    model = build("wide_deep_shared_input", x, w_init)
    config = model.get_config()
    ref = meta["config"]
    assert sorted(config) == sorted(ref)
    assert config["activation"] == ref["activation"] == "sigmoid"
    assert config["linear_model"]["class_name"] == "LinearModel"
    assert config["linear_model"]["module"] == ref["linear_model"]["module"]
    assert_config_close(config["linear_model"]["config"], ref["linear_model"]["config"])
    assert config["dnn_model"]["class_name"] == ref["dnn_model"]["class_name"] == "Sequential"
    assert config["dnn_model"]["module"] == ref["dnn_model"]["module"]
    clone = WideDeepModel.from_config(config)
    assert isinstance(clone.linear_model, LinearModel)
    clone(x)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)
    restored = gk.models.model_from_json(model.to_json())
    assert isinstance(restored, WideDeepModel)
    assert restored.get_config()["dnn_model"]["config"]["layers"][1]["config"]["units"] == 3


def test_exports():
    assert gk.models.LinearModel is LinearModel is gk.experimental.LinearModel
    assert gk.models.WideDeepModel is WideDeepModel is gk.experimental.WideDeepModel


def test_linear_model_input_errors():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 2)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    model = LinearModel()
    model({"b": b, "a": a})
    assert [layer.name for layer in model.layers] == ["a", "b"]
    with pytest.raises(ValueError, match="'b'"):  # the compiled path checks the data first
        model({"a": a, "c": b})
    model.run_eagerly = True
    with pytest.raises(ValueError, match="Missing keys: {'b'}"):
        model({"a": a, "c": b})
    lists = LinearModel()
    lists([a, b])
    lists.run_eagerly = True
    with pytest.raises(ValueError, match="received a list of 3 inputs"):
        lists([a, b, b])


def test_regularization_losses_and_no_bias():
    model = LinearModel(units=2, use_bias=False, kernel_initializer="ones",
                        kernel_regularizer=gk.regularizers.l2(0.5))
    x = np.ones((3, 4), np.float32)
    np.testing.assert_allclose(model(x), np.full((3, 2), 4.0))
    assert [w.name for w in model.weights] == ["linear_model/kernel:0"]
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(np.asarray(model.losses[0])), 0.5 * 8, rtol=1e-6)
