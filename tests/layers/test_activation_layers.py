"""Advanced activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU."""
import json
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RTOL, ATOL = 1e-5, 1e-6
# values on both sides of, and exactly at, the thresholds used below
EDGES = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 0.5, 0.7, 1.0, 1.2, 2.0, 3.0, 7.0], "float32")


def _predict_both(model, x):
    compiled = model.predict(x, verbose=0)
    model.run_eagerly = True
    eager = model.predict(x, verbose=0)
    model.run_eagerly = False
    return compiled, eager


def _check(layer, x, expected, shape=None):
    inp = gk.Input(shape=shape or x.shape[1:])
    model = gk.Model(inp, layer(inp))
    assert model.outputs[0].shape == (None,) + tuple(shape or x.shape[1:])
    compiled, eager = _predict_both(model, x)
    np.testing.assert_allclose(compiled, eager, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(eager, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer(x), expected, rtol=RTOL, atol=ATOL)  # numpy, op by op
    return model


def _np_relu(x, max_value=None, slope=0.0, threshold=0.0):
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.minimum(y, max_value)
    return np.where(x < threshold, slope * (x - threshold), y).astype("float32")


X = np.stack([EDGES, -EDGES, EDGES * 0.5])


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 1.2}, {"negative_slope": 0.1},
                                    {"threshold": 0.5}, {"max_value": 6.0},
                                    {"max_value": 1.2, "negative_slope": 0.2, "threshold": 0.5},
                                    {"max_value": 2, "negative_slope": 0.3}])
def test_relu(kwargs):
    expected = _np_relu(X, kwargs.get("max_value"), kwargs.get("negative_slope", 0.0),
                        kwargs.get("threshold", 0.0))
    _check(L.ReLU(**kwargs), X, expected)


def test_relu_exactly_at_threshold_is_zero():
    y = L.ReLU(threshold=0.5, negative_slope=0.1)(np.array([[0.5, 0.6, 0.4]], "float32"))
    np.testing.assert_allclose(y, [[0.0, 0.6, -0.01]], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.3, 0.05, 1.5])
def test_leaky_relu(alpha):
    layer = L.LeakyReLU() if alpha == 0.3 else L.LeakyReLU(alpha=alpha)
    _check(layer, X, np.where(X >= 0, X, np.float32(alpha) * X))


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu(alpha):
    layer = L.ELU() if alpha == 1.0 else L.ELU(alpha=alpha)
    _check(layer, X, np.where(X > 0, X, np.float32(alpha) * (np.exp(X) - 1)).astype("float32"))


@pytest.mark.parametrize("theta", [1.0, 0.5, 0.0])
def test_thresholded_relu(theta):
    layer = L.ThresholdedReLU() if theta == 1.0 else L.ThresholdedReLU(theta=theta)
    _check(layer, X, np.where(X > theta, X, 0.0).astype("float32"))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 1, (1, 2), [2], [1, 2]])
def test_softmax(axis, rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32") * 3
    ax = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    _check(L.Softmax(axis=axis), x, _np_softmax(x, ax))


def test_softmax_mask(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    mask = rng.choice(np.array([0.0, 0.2, 0.7, 1.0], "float32"), size=x.shape)
    mask[..., 0] = 1.0
    expected = _np_softmax(x + (1.0 - mask) * -1e9, -1)
    np.testing.assert_allclose(L.Softmax()(x, mask=mask), expected, rtol=RTOL, atol=ATOL)
    robust = _np_softmax(np.where(mask > 0.5, x, -1e9), -1)
    np.testing.assert_allclose(L.Softmax(robust_masking=True)(x, mask=mask), robust,
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(L.Softmax(robust_masking=True)(x, mask=mask > 0.5), robust,
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(L.Softmax()(x, mask=mask > 0.5), robust, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ PReLU
@pytest.mark.parametrize("shape,shared_axes,alpha_shape", [
    ((4, 5), None, (4, 5)), ((6, 6, 3), [1, 2], (1, 1, 3)), ((3, 4), 1, (1, 4)),
    ((2, 3, 2), (2,), (2, 1, 2))])
def test_prelu(shape, shared_axes, alpha_shape, rng):
    layer = L.PReLU(shared_axes=shared_axes)
    inp = gk.Input(shape=shape)
    model = gk.Model(inp, layer(inp))
    assert [w.name for w in model.weights] == ["p_re_lu/alpha:0"]
    assert [w.shape for w in model.weights] == [alpha_shape]
    np.testing.assert_array_equal(layer.alpha.numpy(), np.zeros(alpha_shape))  # zeros init
    alpha = rng.uniform(-0.5, 0.8, size=alpha_shape).astype("float32")
    layer.set_weights([alpha])
    x = rng.normal(size=(3,) + shape).astype("float32")
    expected = np.maximum(x, 0) - alpha * np.maximum(-x, 0)
    compiled, eager = _predict_both(model, x)
    np.testing.assert_allclose(compiled, eager, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(eager, expected, rtol=RTOL, atol=ATOL)
    if shared_axes is not None:
        shared = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
        assert layer.input_spec.ndim == len(shape) + 1
        assert layer.input_spec.axes == {i: ((None,) + shape)[i] for i in
                                         range(1, len(shape) + 1) if i not in shared}


def test_prelu_options_and_errors():
    layer = L.PReLU(alpha_initializer="ones", alpha_regularizer=gk.regularizers.l2(0.5))
    layer.build((None, 2, 3))
    np.testing.assert_array_equal(layer.alpha.numpy(), np.ones((2, 3)))
    assert float(np.asarray(layer.losses[0])) == pytest.approx(0.5 * 6)
    assert layer.count_params() == 6
    with pytest.raises(ValueError, match="shared_axes"):
        L.PReLU(shared_axes=[3]).build((None, 3, 4))
    with pytest.raises(ValueError, match="defined"):
        L.PReLU()(gk.Input((None, 4)))


# ------------------------------------------------------------------ config
BASE = {"trainable": True, "dtype": "float32"}
ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
         "registered_name": None}


@pytest.mark.parametrize("make,expected", [
    (lambda: L.ReLU(), {"name": "re_lu", "max_value": None, "negative_slope": 0.0,
                        "threshold": 0.0}),
    (lambda: L.ReLU(max_value=2, negative_slope=0.1, threshold=0.5),
     {"name": "re_lu", "max_value": 2.0, "negative_slope": 0.10000000149011612,
      "threshold": 0.5}),
    (lambda: L.LeakyReLU(), {"name": "leaky_re_lu", "alpha": 0.30000001192092896}),
    (lambda: L.LeakyReLU(alpha=-1), {"name": "leaky_re_lu", "alpha": -1.0}),
    (lambda: L.ELU(), {"name": "elu", "alpha": 1.0}),
    (lambda: L.ELU(0.3), {"name": "elu", "alpha": 0.30000001192092896}),
    (lambda: L.ThresholdedReLU(), {"name": "thresholded_re_lu", "theta": 1.0}),
    (lambda: L.ThresholdedReLU(0.3), {"name": "thresholded_re_lu", "theta": 0.30000001192092896}),
    (lambda: L.Softmax(), {"name": "softmax", "axis": -1}),
    (lambda: L.Softmax(axis=(1, 2)), {"name": "softmax", "axis": (1, 2)}),
    (lambda: L.Softmax(robust_masking=True), {"name": "softmax", "axis": -1,
                                               "robust_masking": True}),
    (lambda: L.PReLU(), {"name": "p_re_lu", "alpha_initializer": ZEROS,
                         "alpha_regularizer": None, "alpha_constraint": None,
                         "shared_axes": None}),
    (lambda: L.PReLU(shared_axes=1), {"name": "p_re_lu", "alpha_initializer": ZEROS,
                                      "alpha_regularizer": None, "alpha_constraint": None,
                                      "shared_axes": [1]}),
])
def test_config_matches_tf_keras_and_round_trips(make, expected):
    layer = make()
    config = layer.get_config()
    assert config == {**expected, **BASE, "name": expected["name"]}
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert json.loads(json.dumps(clone.get_config())) == json.loads(json.dumps(config))


def test_model_round_trip(rng):
    inp = gk.Input(shape=(4,))
    h = L.ReLU(max_value=1.0, negative_slope=0.1)(inp)
    h = L.PReLU()(L.LeakyReLU(0.2)(h))
    out = L.Softmax()(L.ThresholdedReLU(0.1)(L.ELU(0.5)(h)))
    model = gk.Model(inp, out)
    model.set_weights([rng.uniform(size=(4,)).astype("float32")])
    clone = gk.Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x = rng.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make,message", [
    (lambda: L.ReLU(max_value=-1),
     "max_value of a ReLU layer cannot be a negative value. Received: -1"),
    (lambda: L.ReLU(negative_slope=-1),
     "negative_slope of a ReLU layer cannot be a negative value. Received: -1"),
    (lambda: L.ReLU(negative_slope=None),
     "negative_slope of a ReLU layer cannot be a negative value. Received: None"),
    (lambda: L.ReLU(threshold=-1),
     "threshold of a ReLU layer cannot be a negative value. Received: -1"),
    (lambda: L.ReLU(threshold=None),
     "threshold of a ReLU layer cannot be a negative value. Received: None"),
    (lambda: L.LeakyReLU(alpha=None),
     "The alpha value of a Leaky ReLU layer cannot be None, Expecting a float. Received: None"),
    (lambda: L.ELU(alpha=None),
     "Alpha of an ELU layer cannot be None, expecting a float. Received: None"),
    (lambda: L.ThresholdedReLU(theta=None),
     "Theta of a Thresholded ReLU layer cannot be None, expecting a float. Received: None"),
    (lambda: L.ThresholdedReLU(theta=-1),
     "The theta value of a Thresholded ReLU layer should be >=0. Received: -1"),
])
def test_argument_errors_match_tf_keras(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


# ------------------------------------------------------------------ tf.keras fixtures
def _cases(folder, names):
    return [n for n in names if (FIXTURES / folder / f"{n}.npz").exists()]


OWN_FIXTURES = ["relu_all_edges", "relu_threshold_edges", "relu_max6_slope",
                "thresholded_relu_default", "thresholded_relu_theta", "leaky_relu_big_alpha",
                "elu_alpha_small", "softmax_two_axes", "softmax_axis_list1", "softmax_mask",
                "softmax_mask_robust", "prelu_shared_axis1", "prelu_3d_full"]


@pytest.mark.parametrize("case", _cases("merge_activation", OWN_FIXTURES))
def test_against_tf_keras_fixture(case):
    data = np.load(FIXTURES / "merge_activation" / f"{case}.npz")
    meta = json.loads((FIXTURES / "merge_activation" / f"{case}.json").read_text())
    layer = getattr(L, meta["class_name"]).from_config(meta["config"])
    assert json.loads(json.dumps(layer.get_config())) == meta["config"]
    x = data["x0"]
    if "mask" in data:
        np.testing.assert_allclose(layer(x, mask=data["mask"]), data["y0"], rtol=1e-5, atol=1e-6)
        return
    inp = gk.Input(shape=tuple(meta["input_shapes"][0][1:]))
    model = gk.Model(inp, layer(inp))
    assert list(model.outputs[0].shape) == meta["output_shape"]
    assert [w.name.split("/")[-1][:-2] for w in model.weights] == meta["weight_names"]
    model.set_weights([data[f"w{i}"] for i in range(len(meta["weight_names"]))])
    compiled, eager = _predict_both(model, x)
    np.testing.assert_allclose(compiled, data["y0"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager, data["y0"], rtol=1e-5, atol=1e-6)


SHARED_FIXTURES = ["relu_layer_basic", "relu_layer_max_value", "relu_layer_negative_slope",
                   "relu_layer_threshold", "relu_layer_all", "leaky_relu_default",
                   "leaky_relu_alpha", "prelu_basic", "prelu_shared_axes", "elu_layer_default",
                   "elu_layer_alpha", "softmax_layer_default", "softmax_layer_axis1"]


@pytest.mark.parametrize("case", _cases("layers", SHARED_FIXTURES))
def test_against_shared_layer_fixture(case):
    data = np.load(FIXTURES / "layers" / f"{case}.npz")
    meta = json.loads((FIXTURES / "layers" / f"{case}.json").read_text())
    entry = json.loads(meta["model_json"])["config"]["layers"][-1]
    layer = getattr(L, entry["class_name"]).from_config(entry["config"])
    assert json.loads(json.dumps(layer.get_config())) == entry["config"]
    inp = gk.Input(shape=tuple(meta["input_shapes"][0][1:]))
    model = gk.Model(inp, layer(inp))
    model.set_weights([data[f"w{i}"] for i in range(len(meta["weight_names"]))])
    compiled, eager = _predict_both(model, data["x0"])
    np.testing.assert_allclose(compiled, data["y0"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager, data["y0"], rtol=1e-5, atol=1e-6)
