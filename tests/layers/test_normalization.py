"""BatchNormalization and LayerNormalization."""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import graphkeras as gk
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.primitive import Tensor, Trace
from trace_utils import run_traced

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RTOL, ATOL = 1e-5, 1e-5


def _rand(rng, *shape, scale=1.0, shift=0.0):
    return (rng.normal(size=shape) * scale + shift).astype("float32")


def _predict_both(model, x):
    compiled = model.predict(x, verbose=0)
    model.run_eagerly = True
    eager = model.predict(x, verbose=0)
    model.run_eagerly = False
    return compiled, eager


def _np_bn(x, mean, var, gamma, beta, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _param_view(v, axes, ndim):
    """A per-channel numpy parameter shaped to broadcast against an ndim input."""
    v = np.asarray(v)
    if v.ndim == ndim:
        return v
    shape = [1] * ndim
    for a, d in zip(axes, v.shape):
        shape[a] = d
    return v.reshape(shape)


def _random_bn_weights(layer, rng):
    weights = []
    for w in layer.weights:
        base = w.name.split("/")[-1].split(":")[0]
        low = 0.5 if base in ("gamma", "moving_variance") else -1.0
        weights.append(rng.uniform(low, 1.5, size=w.shape).astype("float32"))
    layer.set_weights(weights)
    return weights


def _trace_training(layer, x):
    """Trace ``layer(x, training=True)`` with a None batch; run the graph whose outputs
    are the layer output then the recorded moving-statistics updates, on the
    interpreter and on ONNX Runtime."""
    trace = Trace("bn_train")
    with trace:
        t = trace.input((None,) + x.shape[1:], "float32", "x")
        y = layer(t, training=True)
    updates = list(layer._state_updates)
    assert all(isinstance(u, Tensor) and u.trace is trace for _, u in updates)
    # the same updates are the trace's state outputs (Variable.assign inside a trace)
    assert [(id(v), id(t)) for v, t in trace.updates.values()] == \
        [(id(v), id(t)) for v, t in updates]
    graph = trace.graph
    graph.outputs = [y.value] + [u.value for _, u in updates]
    params = [var for var, _ in trace.params.values()]
    feeds = [x] + [np.asarray(p.numpy()) for p in params]
    interp = evaluate(graph, feeds)
    sess = ort.InferenceSession(lower(graph).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {v.name: a for v, a in zip(graph.inputs, feeds)})
    return updates, interp, onnx_out


# ------------------------------------------------------------------ BatchNormalization
BN_INFER = [((6,), -1), ((4, 5), -1), ((3, 3, 4), -1), ((4, 3, 3), 1), ((2, 4, 3), 2),
            ((3, 4), [1, 2]), ((3, 2, 4), [1, 3])]


@pytest.mark.parametrize("shape,axis", BN_INFER)
def test_batch_norm_inference(shape, axis, rng):
    layer = L.BatchNormalization(axis=axis, epsilon=0.01)
    inp = gk.Input(shape=shape)
    model = gk.Model(inp, layer(inp))
    assert model.outputs[0].shape == (None,) + shape
    gamma, beta, mean, var = _random_bn_weights(layer, rng)
    x = _rand(rng, 3, *shape, scale=2.0, shift=0.5)
    axes = layer.axis
    ndim = len(shape) + 1
    expected = _np_bn(x, *[_param_view(v, axes, ndim) for v in (mean, var, gamma, beta)], 0.01)
    compiled, eager = _predict_both(model, x)
    np.testing.assert_allclose(compiled, eager, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(eager, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-5)  # numpy, op by op


def test_batch_norm_weights_order_names_shapes():
    inp = gk.Input(shape=(3,))
    model = gk.Model(inp, L.BatchNormalization()(inp))
    assert [w.name for w in model.weights] == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0",
        "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]
    assert [w.name for w in model.trainable_weights] == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0"]
    assert [w.shape for w in model.weights] == [(3,)] * 4
    np.testing.assert_array_equal(np.concatenate(model.get_weights()),
                                  [1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    layer = L.BatchNormalization(center=False)
    layer.build((None, 3))
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "gamma:0", "moving_mean:0", "moving_variance:0"]
    layer = L.BatchNormalization(scale=False)
    layer.build((None, 3))
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "beta:0", "moving_mean:0", "moving_variance:0"]
    layer = L.BatchNormalization(axis=[1, 3])
    layer.build((None, 3, 4, 5))
    assert [w.shape for w in layer.weights] == [(1, 3, 1, 5)] * 4
    layer = L.BatchNormalization(axis=1)
    layer.build((None, 3, 4, 5))
    assert [w.shape for w in layer.weights] == [(3,)] * 4
    assert layer.input_spec.ndim == 4 and layer.input_spec.axes == {1: 3}
    assert layer.count_params() == 12


@pytest.mark.parametrize("shape,axis,fused", [((6,), -1, False), ((4, 5), -1, False),
                                              ((3, 3, 4), -1, True), ((4, 3, 2), 1, True),
                                              ((2, 4, 3), 2, False), ((3, 4), [1, 2], False),
                                              ((2, 2, 2, 3), -1, True)])
def test_batch_norm_training_eager_updates(shape, axis, fused, rng):
    momentum = 0.8
    layer = L.BatchNormalization(axis=axis, momentum=momentum)
    layer.build((None,) + shape)
    assert layer._fused is fused
    gamma, beta, mm, mv = _random_bn_weights(layer, rng)
    x = _rand(rng, 4, *shape, scale=2.0, shift=1.0)
    ndim = len(shape) + 1
    red = tuple(i for i in range(ndim) if i not in layer.axis)
    mean, var = x.mean(red, keepdims=True), x.var(red, keepdims=True)
    g, b = (_param_view(v, layer.axis, ndim) for v in (gamma, beta))
    y = layer(x, training=True)
    np.testing.assert_allclose(y, _np_bn(x, mean, var, g, b, 1e-3), rtol=1e-4, atol=1e-5)
    n = x.size // np.prod([x.shape[a] for a in layer.axis])
    moving_var_batch = var * n / (n - 1) if fused else var  # fused: unbiased variance
    np.testing.assert_allclose(layer.moving_mean.numpy(),
                               mm * momentum + mean.reshape(mm.shape) * (1 - momentum),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               mv * momentum + moving_var_batch.reshape(mv.shape) * (1 - momentum),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.gamma.numpy(), gamma)  # trainable weights untouched
    assert layer._state_updates == []  # eager updates are assigned, not recorded


def test_batch_norm_inference_does_not_update(rng):
    layer = L.BatchNormalization()
    x = _rand(rng, 5, 3, shift=3.0)
    layer(x)
    layer(x, training=False)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.ones(3))


def test_frozen_batch_norm_runs_in_inference_mode(rng):
    layer = L.BatchNormalization()
    layer.build((None, 3))
    layer.trainable = False
    x = _rand(rng, 5, 3, scale=3.0, shift=2.0)
    np.testing.assert_allclose(layer(x, training=True), x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_model_call_training_true_updates_moving_stats(rng):
    inp = gk.Input(shape=(4,))
    bn = L.BatchNormalization(momentum=0.5)
    model = gk.Model(inp, L.Dense(2)(bn(inp)))
    x = _rand(rng, 8, 4, shift=2.0)
    model(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)
    # predict (compiled) then uses the updated moving statistics
    expected = model.predict(x, verbose=0)
    h = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    dense = model.layers[-1]
    np.testing.assert_allclose(expected, h @ dense.kernel.numpy() + dense.bias.numpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 3, 4), -1), ((4, 3, 2), 1),
                                        ((3, 4), [1, 2])])
def test_batch_norm_training_traced_records_updates(shape, axis, rng):
    momentum = 0.7
    layer = L.BatchNormalization(axis=axis, momentum=momentum)
    layer.build((None,) + shape)
    weights = _random_bn_weights(layer, rng)
    x = _rand(rng, 4, *shape, scale=1.5, shift=-0.5)
    updates, interp, onnx_out = _trace_training(layer, x)
    assert [v for v, _ in updates] == [layer.moving_mean, layer.moving_variance]
    for w, v in zip(weights, layer.get_weights()):  # tracing assigns nothing
        np.testing.assert_array_equal(w, v)
    # the eager run on a copy is the reference for output and new moving statistics
    twin = L.BatchNormalization.from_config(layer.get_config())
    twin.build((None,) + shape)
    twin.set_weights(weights)
    y = twin(x, training=True)
    expected = [y, twin.moving_mean.numpy(), twin.moving_variance.numpy()]
    for got in (interp, onnx_out):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    # run as a compiled step would (tests/trace_utils.py): assignments are applied
    y_step = run_traced(lambda t: layer(t, training=True), x)
    np.testing.assert_allclose(y_step, y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), expected[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), expected[2], rtol=1e-5, atol=1e-6)
    layer.set_weights(weights)
    # a new trace replaces the stale entries of the old one
    _trace_training(layer, x)
    assert len(layer._state_updates) == 2


def test_batch_norm_regularizers_and_initializers():
    layer = L.BatchNormalization(gamma_regularizer=gk.regularizers.l2(0.1),
                                 beta_regularizer="l1", moving_variance_initializer="zeros",
                                 gamma_initializer=gk.initializers.Constant(2.0))
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.zeros(3))
    penalties = [float(np.asarray(p)) for p in layer.losses]
    assert penalties == pytest.approx([0.1 * 4 * 3, 0.0])


# ------------------------------------------------------------------ config
BN_DEFAULT_CONFIG = {
    "name": "batch_normalization", "trainable": True, "dtype": "float32", "axis": -1,
    "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
    "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                         "registered_name": None},
    "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {},
                          "registered_name": None},
    "moving_mean_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                "config": {}, "registered_name": None},
    "moving_variance_initializer": {"module": "keras.initializers", "class_name": "Ones",
                                    "config": {}, "registered_name": None},
    "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
    "gamma_constraint": None}


def test_batch_norm_config_matches_tf_keras():
    layer = L.BatchNormalization()
    assert layer.get_config() == BN_DEFAULT_CONFIG
    layer.build((None, 3))
    assert layer.get_config() == {**BN_DEFAULT_CONFIG, "axis": [1]}  # normalized when built
    layer = L.BatchNormalization(axis=(1,))
    assert layer.get_config()["axis"] == (1,)
    layer = L.BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-5, center=False,
                                 gamma_regularizer=gk.regularizers.l2(0.01))
    clone = L.BatchNormalization.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_config() == json.loads(json.dumps(layer.get_config()))
    assert clone.momentum == 0.9 and clone.center is False


LN_DEFAULT_CONFIG = {
    "name": "layer_normalization", "trainable": True, "dtype": "float32", "axis": -1,
    "epsilon": 0.001, "center": True, "scale": True,
    "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                         "registered_name": None},
    "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {},
                          "registered_name": None},
    "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
    "gamma_constraint": None}


def test_layer_norm_config_matches_tf_keras():
    layer = L.LayerNormalization()
    assert layer.get_config() == LN_DEFAULT_CONFIG
    layer.build((None, 3, 4))
    assert layer.get_config()["axis"] == [2]
    layer = L.LayerNormalization(axis=(-1,))
    assert layer.get_config()["axis"] == [-1]
    layer = L.LayerNormalization(axis=[1, 2], epsilon=1e-6, scale=False)
    clone = L.LayerNormalization.from_config(json.loads(json.dumps(layer.get_config())))
    assert clone.get_config() == layer.get_config()


def test_model_with_norm_layers_round_trips(rng):
    inp = gk.Input(shape=(3, 4))
    h = L.BatchNormalization(axis=1)(inp)
    out = L.LayerNormalization(axis=[1, 2])(h)
    model = gk.Model(inp, out)
    for w in model.weights:
        w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype("float32"))
    clone = gk.Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    assert [w.name for w in clone.weights] == [w.name for w in model.weights]
    x = _rand(rng, 2, 3, 4)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ errors
def _raises(exc, match, fn):
    with pytest.raises(exc) as info:
        fn()
    assert match in str(info.value), str(info.value)


@pytest.mark.parametrize("cls", [L.BatchNormalization, L.LayerNormalization])
def test_axis_errors_match_tf_keras(cls):
    _raises(ValueError, "Invalid value for `axis` argument. Expected 0 <= axis < inputs.rank "
            "(with inputs.rank=2). Received: axis=(3,)", lambda: cls(axis=3)(gk.Input((3,))))
    _raises(ValueError, "Invalid value for `axis` argument. Expected 0 <= axis < inputs.rank "
            "(with inputs.rank=2). Received: axis=(-1,)", lambda: cls(axis=-3)(gk.Input((3,))))
    _raises(ValueError, "Duplicate axis: (1, 1)", lambda: cls(axis=[1, 1])(gk.Input((3, 4))))
    _raises(TypeError, "Expected an int or a list/tuple of ints for the argument 'axis', but "
            "received: 'a'", lambda: cls(axis="a"))
    _raises(TypeError, "Expected an int or a list/tuple of ints for the argument 'axis', but "
            "received: 1.5", lambda: cls(axis=1.5))
    _raises(ValueError, "Input has undefined `axis` dimension. Received input with shape "
            "(None, None) and axis=(1,)", lambda: cls()(gk.Input((None,))))


def test_batch_norm_argument_errors():
    _raises(ValueError, "Batch normalization layers with `fused=True` only support 4D or 5D "
            "input tensors. Received tensor with shape: (None, 3)",
            lambda: L.BatchNormalization(fused=True).build((None, 3)))
    _raises(ValueError, "Passing `fused=True` is only supported when axis is 1 or 3 for input "
            "rank = 4 or 1 or 4 for input rank = 5. Got axis [1, 2]",
            lambda: L.BatchNormalization(axis=[1, 2], fused=True).build((None, 3, 3, 3)))
    with pytest.raises(ValueError):
        L.BatchNormalization(renorm=True)
    with pytest.raises(ValueError):
        L.BatchNormalization(virtual_batch_size=2)
    built = L.BatchNormalization()
    built(gk.Input((3,)))
    _raises(ValueError, "expected ndim=2, found ndim=3", lambda: built(gk.Input((3, 3))))


# ------------------------------------------------------------------ LayerNormalization
LN_CASES = [((6,), -1), ((3, 6), -1), ((3, 4), 1), ((3, 4), [1, 2]), ((3, 2, 4), [1, 3]),
            ((2, 3, 2), [1, 2, 3])]


@pytest.mark.parametrize("shape,axis", LN_CASES)
def test_layer_norm_values(shape, axis, rng):
    layer = L.LayerNormalization(axis=axis, epsilon=1e-4)
    inp = gk.Input(shape=shape)
    model = gk.Model(inp, layer(inp))
    assert model.outputs[0].shape == (None,) + shape
    ndim = len(shape) + 1
    axes = layer.axis
    assert [w.name for w in layer.weights] == ["layer_normalization/gamma:0",
                                               "layer_normalization/beta:0"]
    assert [w.shape for w in layer.weights] == [tuple(((None,) + shape)[a] for a in axes)] * 2
    gamma = rng.uniform(0.5, 1.5, size=layer.gamma.shape).astype("float32")
    beta = rng.normal(size=layer.beta.shape).astype("float32")
    layer.set_weights([gamma, beta])
    x = _rand(rng, 3, *shape, scale=3.0, shift=1.0)
    mean = x.mean(tuple(axes), keepdims=True)
    var = x.var(tuple(axes), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-4) * _param_view(gamma, axes, ndim) + \
        _param_view(beta, axes, ndim)
    compiled, eager = _predict_both(model, x)
    np.testing.assert_allclose(compiled, eager, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(eager, expected, rtol=1e-4, atol=1e-5)
    # the same statistics in training mode: LayerNormalization has no state
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_without_center_or_scale(rng):
    x = _rand(rng, 4, 5, scale=2.0)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    for center, scale in [(False, True), (True, False), (False, False)]:
        layer = L.LayerNormalization(center=center, scale=scale)
        np.testing.assert_allclose(layer(x), expected, rtol=1e-4, atol=1e-5)
        names = [w.name.split("/")[-1] for w in layer.weights]
        assert names == (["gamma:0"] if scale else []) + (["beta:0"] if center else [])


# ------------------------------------------------------------------ tf.keras fixtures
def _cases(folder, prefix):
    return sorted(p.stem for p in (FIXTURES / folder).glob(f"{prefix}*.npz"))


def _layer_from_meta(meta):
    cls = getattr(L, meta["class_name"])
    layer = cls.from_config(meta["config"])
    assert layer.get_config() == meta["config"]  # tf.keras' config loads and writes back
    return layer


@pytest.mark.parametrize("case", _cases("norm", "bn_"))
def test_batch_norm_training_against_tf_keras(case):
    data = np.load(FIXTURES / "norm" / f"{case}.npz")
    meta = json.loads((FIXTURES / "norm" / f"{case}.json").read_text())
    _layer_from_meta(meta)
    layer, twin = [L.BatchNormalization.from_config({**meta["config"], **meta["init_kwargs"]})
                   for _ in range(2)]
    for bn in (layer, twin):
        bn.build(tuple(meta["input_shape"]))
        assert [w.name.split("/")[-1][:-2] for w in bn.weights] == meta["weight_names"]
        assert [list(w.shape) for w in bn.weights] == meta["weight_shapes"]
        bn.set_weights([data[f"w{i}"] for i in range(len(meta["weight_names"]))])
        bn.trainable = not meta["frozen"]
    # eager: two training steps, then inference
    np.testing.assert_allclose(layer(data["x0"], training=True), data["train0"],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer(data["x1"], training=True), data["train1"],
                               rtol=1e-4, atol=1e-5)
    for i, w in enumerate(layer.get_weights()):
        np.testing.assert_allclose(w, data[f"after{i}"], rtol=1e-5, atol=1e-6)
    for k in ("infer0", "infer1"):
        np.testing.assert_allclose(layer(data["x" + k[-1]], training=False), data[k],
                                   rtol=1e-4, atol=1e-5)
    # traced: the recorded updates, applied in order, give the same statistics
    for k in ("0", "1"):
        updates, interp, onnx_out = _trace_training(twin, data["x" + k])
        np.testing.assert_allclose(onnx_out[0], data["train" + k], rtol=1e-4, atol=1e-5)
        for (var, _), value in zip(updates, onnx_out[1:]):
            var.assign(value)
    for i, w in enumerate(twin.get_weights()):
        np.testing.assert_allclose(w, data[f"after{i}"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", _cases("norm", "ln_"))
def test_layer_norm_against_tf_keras(case):
    data = np.load(FIXTURES / "norm" / f"{case}.npz")
    meta = json.loads((FIXTURES / "norm" / f"{case}.json").read_text())
    layer = _layer_from_meta(meta)
    inp = gk.Input(shape=tuple(meta["input_shape"][1:]))
    model = gk.Model(inp, layer(inp))
    assert [list(w.shape) for w in layer.weights] == meta["weight_shapes"]
    model.set_weights([data[f"w{i}"] for i in range(len(meta["weight_names"]))])
    for k in ("0", "1"):
        compiled, eager = _predict_both(model, data["x" + k])
        np.testing.assert_allclose(compiled, data["infer" + k], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(eager, data["infer" + k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", _cases("layers", "batch_norm_") + _cases("layers", "layer_norm_"))
def test_against_shared_layer_fixture(case):
    data = np.load(FIXTURES / "layers" / f"{case}.npz")
    meta = json.loads((FIXTURES / "layers" / f"{case}.json").read_text())
    entry = json.loads(meta["model_json"])["config"]["layers"][-1]
    layer = getattr(L, entry["class_name"]).from_config(entry["config"])
    assert layer.get_config() == entry["config"]
    inp = gk.Input(shape=tuple(meta["input_shapes"][0][1:]))
    model = gk.Model(inp, layer(inp))
    assert [w.name.split("/")[-1] for w in model.weights] == \
        [n.split("/")[-1] for n in meta["weight_names"]]
    model.set_weights([data[f"w{i}"] for i in range(len(meta["weight_names"]))])
    compiled, eager = _predict_both(model, data["x0"])
    np.testing.assert_allclose(compiled, data["y0"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eager, data["y0"], rtol=1e-4, atol=1e-5)
