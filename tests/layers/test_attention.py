"""Attention, AdditiveAttention, MultiHeadAttention, EinsumDense and TimeDistributed:
tf.keras fixtures (forward outputs and masks, weights, JSON, one SGD step, .h5),
compiled == eager, finite-difference gradients, dynamic sequence lengths, errors."""
import json

import numpy as np
import pytest

import graphkeras as gk
from attention_cases import (ERRORS, FIXTURES, TOL, case_names, check_forward,
                             check_json_round_trip, check_training, load)
from graphkeras.compiler import Trace
from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.interpreter import evaluate
from graphkeras.engine.base_layer import attach_mask
from graphkeras.engine.keras_tensor import flatten

L = gk.layers
FORWARD = case_names(["mha_", "attention_", "additive_", "time_distributed_"])


@pytest.mark.parametrize("name", FORWARD)
def test_forward_matches_tf_keras(name):
    check_forward(name)


@pytest.mark.parametrize("name", FORWARD)
def test_tf_keras_json_round_trips(name):
    check_json_round_trip(name)


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_train_step_matches_tf_keras(eager):
    check_training("train_mha_classifier", gk.optimizers.SGD(0.5),
                   "sparse_categorical_crossentropy", metrics=["accuracy"], eager=eager)


def test_tf_keras_h5_loads():
    meta, arrays = load("train_mha_classifier")
    model = gk.models.load_model(FIXTURES / "mha_classifier.h5", compile=False)
    assert [w.name for w in model.weights] == meta["weight_names"]
    np.testing.assert_allclose(model.predict(arrays["x0"], verbose=0), arrays["y0"], **TOL)


def test_weights_names_and_order():
    x = gk.Input((4, 6))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, output_shape=7)
    mha(x, x)
    assert [w.name for w in mha.weights] == [
        f"multi_head_attention/{p}/{n}:0" for p in ("query", "key", "value", "attention_output")
        for n in ("kernel", "bias")]
    assert [w.shape for w in mha.weights] == [(6, 2, 3), (2, 3), (6, 2, 3), (2, 3), (6, 2, 5),
                                              (2, 5), (2, 5, 7), (7,)]
    nobias = L.MultiHeadAttention(2, 3, use_bias=False, name="nb")
    nobias(x, x)
    assert [w.name for w in nobias.weights] == [f"nb/{p}/kernel:0" for p in
                                                ("query", "key", "value", "attention_output")]
    td = L.TimeDistributed(L.Conv2D(3, 2))
    td(gk.Input((2, 5, 5, 1)))
    assert [(w.name, w.shape) for w in td.weights] == [("time_distributed/kernel:0", (2, 2, 1, 3)),
                                                       ("time_distributed/bias:0", (3,))]
    att = L.Attention(use_scale=True, score_mode="concat")
    att([x, x])
    assert [w.name for w in att.weights] == ["attention/scale:0", "attention/concat_score_weight:0"]
    add = L.AdditiveAttention(use_scale=False)
    add([x, x])
    assert add.weights == []


@pytest.mark.parametrize("layer", [
    lambda: L.MultiHeadAttention(3, 4, value_dim=2, dropout=0.1, use_bias=False, output_shape=(2, 3),
                                 attention_axes=2, kernel_initializer="he_normal",
                                 kernel_regularizer="l2", softmax_robust_masking=True),
    lambda: L.Attention(use_scale=True, score_mode="concat", dropout=0.2),
    lambda: L.AdditiveAttention(use_scale=False, dropout=0.3),
    lambda: L.TimeDistributed(L.Dense(3, activation="relu")),
    lambda: L.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d", activation="tanh"),
], ids=["mha", "attention", "additive", "time_distributed", "einsum_dense"])
def test_config_round_trip(layer):
    original = layer()
    config = json.loads(json.dumps(original.get_config()))
    clone = type(original).from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config


def test_mha_from_config_builds_weights():
    meta, _ = load("mha_cross")
    config = meta["model_json"]["config"]["layers"][-1]["config"]
    layer = L.MultiHeadAttention.from_config(config)
    assert [list(w.shape) for w in layer.weights] == meta["weight_shapes"]
    assert layer.get_config()["attention_axes"] == (1,)


def test_mha_compute_output_shape():
    mha = L.MultiHeadAttention(2, 3)
    assert mha.compute_output_shape((None, 4, 6), (None, 5, 6)) == (None, 4, 6)
    assert L.MultiHeadAttention(2, 3, output_shape=(2, 5)).compute_output_shape(
        (None, 4, 6), (None, 5, 6)) == (None, 4, 2, 5)


# ------------------------------------------------------------ dynamic lengths, causality
def test_one_graph_serves_every_sequence_length_and_is_causal(rng):
    x = gk.Input((None, 6))
    model = gk.Model(x, L.MultiHeadAttention(2, 3)(x, x, use_causal_mask=True))
    data = [rng.normal(size=(3, steps, 6)).astype("float32") for steps in (5, 2, 7)]
    compiled, graph = [], None
    for d in data:
        compiled.append(model.predict(d, verbose=0))
        assert graph is None or model._predict_graph is graph  # one graph, every length
        graph = model._predict_graph
        cut = max(1, d.shape[1] // 2)
        changed = d.copy()
        changed[:, cut:] += 1.0  # later steps do not affect earlier outputs
        later = model.predict(changed, verbose=0)
        np.testing.assert_allclose(later[:, :cut], compiled[-1][:, :cut], **TOL)
        assert not np.allclose(later[:, cut:], compiled[-1][:, cut:])
    model.run_eagerly = True
    for d, y in zip(data, compiled):
        np.testing.assert_allclose(model.predict(d, verbose=0), y, **TOL)


def test_padding_key_positions_does_not_change_attention(rng):
    tokens = gk.Input((None,), dtype="int32")
    emb = L.Embedding(12, 6, mask_zero=True)(tokens)
    model = gk.Model(tokens, L.Attention()([emb, emb]))
    x = np.array([[3, 5, 7, 0], [2, 9, 0, 0]], "int32")
    short = model.predict(x, verbose=0)
    longer = model.predict(np.pad(x, ((0, 0), (0, 3))), verbose=0)
    np.testing.assert_allclose(longer[:, :4], short, **TOL)
    assert np.all(short[0, 3] == 0) and np.all(short[1, 2:] == 0)  # query mask zeroes padding


# ------------------------------------------------------------------------ dropout
def test_dropout_only_in_training(rng):
    q, v = rng.normal(size=(2, 4, 6)).astype("float32"), rng.normal(size=(2, 5, 6)).astype("float32")
    att = L.Attention(dropout=0.5)
    plain = L.Attention()
    _, scores = att([q, v], return_attention_scores=True)
    _, ref = plain([q, v], return_attention_scores=True)
    np.testing.assert_allclose(scores, ref, **TOL)
    _, dropped = att([q, v], return_attention_scores=True, training=True)
    kept = dropped != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped[kept], 2 * ref[kept], rtol=1e-5)
    mha = L.MultiHeadAttention(2, 3, dropout=0.5)
    a = mha(q, v)
    np.testing.assert_allclose(mha(q, v, training=False), a, **TOL)
    assert not np.allclose(mha(q, v, training=True), a)


# ---------------------------------------------------------------------- gradients
def _layer_gradients(fn, arrays, variables):
    """Autodiff gradients (traced, run by the interpreter) of sum(fn(*x) * W) wrt the
    float inputs and ``variables``, and the function computing that loss eagerly."""
    rng = np.random.default_rng(1)
    trace = Trace("grad")
    with trace:
        syms = [trace.input(a.shape, a.dtype.name, f"x{i}") for i, a in enumerate(arrays)]
        outs = flatten(fn(*syms))
        weights = [rng.uniform(0.5, 1.5, size=(2,) + tuple(o.shape[1:])) for o in outs]
        loss = None
        for o, w in zip(outs, weights):
            term = gk.ops.sum(gk.ops.multiply(o, w))
            loss = term if loss is None else gk.ops.add(loss, term)
        floats = [s for s, a in zip(syms, arrays) if a.dtype.kind == "f"]
        grads = grad(loss, floats + [v._trace_value(trace) for v in variables])
    trace.graph.outputs = [g.value for g in grads]
    feeds = list(arrays) + [np.asarray(var.numpy()) for var, _ in trace.params.values()]
    analytic = evaluate(trace.graph, feeds)

    def eager_loss():
        return sum(float(np.sum(np.asarray(o) * w)) for o, w in zip(flatten(fn(*arrays)), weights))
    return analytic, eager_loss


def _check_gradients(fn, arrays, layer, eps=1e-6):
    """Central differences along a random direction, for every float input and weight."""
    rng = np.random.default_rng(2)
    analytic, loss = _layer_gradients(fn, arrays, layer.trainable_weights)
    float_idx = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    for k, i in enumerate(float_idx):
        d = rng.standard_normal(arrays[i].shape)
        base = arrays[i].copy()
        arrays[i] = base + eps * d
        plus = loss()
        arrays[i] = base - eps * d
        minus = loss()
        arrays[i] = base
        np.testing.assert_allclose(np.sum(analytic[k] * d), (plus - minus) / (2 * eps), rtol=1e-5,
                                   atol=1e-8, err_msg=f"input {i}")
    for k, var in enumerate(layer.trainable_weights):
        d = rng.standard_normal(var.shape)
        base = np.array(var.numpy())
        var.assign(base + eps * d)
        plus = loss()
        var.assign(base - eps * d)
        minus = loss()
        var.assign(base)
        np.testing.assert_allclose(np.sum(analytic[len(float_idx) + k] * d),
                                   (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-8,
                                   err_msg=var.name)


def _masked(x, mask):
    """``x`` carrying ``mask`` as a masked layer output would (eager or traced)."""
    return attach_mask(x, mask)


def test_mha_gradients_with_masks_and_causal(rng):
    q, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 3))
    # (a query row masked out entirely gets uniform weights from scores shifted by -1e9, whose
    # finite differences are rounding noise: every query position stays valid here)
    qmask = np.ones((2, 4), bool)
    vmask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], bool)
    layer = L.MultiHeadAttention(2, 2, value_dim=3, output_shape=4, dtype="float64")

    def fn(q, v):
        return layer(_masked(q, qmask), _masked(v, vmask), use_causal_mask=True,
                     return_attention_scores=True)
    fn(q, v)
    _check_gradients(fn, [q, v], layer)


def test_mha_gradients_attention_axes(rng):
    x = rng.normal(size=(2, 2, 3, 4))
    layer = L.MultiHeadAttention(2, 2, attention_axes=(1, 2), dtype="float64")
    fn = lambda x: layer(x, x)  # noqa: E731
    fn(x)
    _check_gradients(fn, [x], layer)


@pytest.mark.parametrize("make", [
    lambda: L.Attention(use_scale=True, dtype="float64"),
    lambda: L.Attention(use_scale=True, score_mode="concat", dtype="float64"),
    lambda: L.AdditiveAttention(dtype="float64"),
], ids=["dot", "concat", "additive"])
def test_dense_attention_gradients(make, rng):
    q, v, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4))
    vmask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = make()

    def fn(q, v, k):
        return layer([q, v, k], mask=[None, vmask], use_causal_mask=True)
    fn(q, v, k)
    for w in layer.weights:  # away from the ones initializer: a scale of 1 hides mistakes
        w.assign(np.asarray(w.numpy() * 1.3 + 0.1, "float64"))
    _check_gradients(fn, [q, v, k], layer)


def test_time_distributed_and_einsum_dense_gradients(rng):
    x = rng.normal(size=(2, 3, 4))
    layer = L.TimeDistributed(L.EinsumDense("ab,bc->ac", output_shape=5, bias_axes="c",
                                            activation="tanh", dtype="float64"), dtype="float64")
    fn = lambda x: layer(x)  # noqa: E731
    fn(x)
    _check_gradients(fn, [x], layer)


# ---------------------------------------------------------------- time distributed
def test_time_distributed_equals_per_step(rng):
    dense = L.Dense(3, activation="relu")
    td = L.TimeDistributed(dense)
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    y = td(x)
    for t in range(4):
        np.testing.assert_allclose(y[:, t], dense(x[:, t]), **TOL)
    assert td.compute_output_shape((None, 4, 5)) == (None, 4, 3)


def test_einsum_dense_ellipsis_forms(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    left = L.EinsumDense("...b,bc->...c", output_shape=5, bias_axes="c")
    y = left(x)
    assert left.kernel.shape == (4, 5) and y.shape == (2, 3, 5)
    np.testing.assert_allclose(y, x @ left.kernel.numpy() + left.bias.numpy(), **TOL)
    right = L.EinsumDense("ab...,bc->ac...", output_shape=(5, None), bias_axes="c")
    y = right(x)
    assert right.kernel.shape == (3, 5) and right.bias.shape == (5, 1) and y.shape == (2, 5, 4)
    np.testing.assert_allclose(y, np.einsum("abd,bc->acd", x, right.kernel.numpy())
                               + right.bias.numpy(), **TOL)


# ------------------------------------------------------------------------- errors
def _error(name):
    return ERRORS[name]["type"], ERRORS[name]["message"]


@pytest.mark.parametrize("name,call", [
    ("attention_not_list", lambda x: L.Attention()(x)),
    ("attention_one_input", lambda x: L.Attention()([x])),
    ("attention_four_inputs", lambda x: L.Attention()([x, x, x, x])),
    ("attention_mask_too_short", lambda x: L.Attention()([x, x], mask=[np.ones((2, 4), bool)])),
    ("additive_not_list", lambda x: L.AdditiveAttention()(x)),
    ("attention_bad_score_mode", lambda x: L.Attention(score_mode="sum")),
    ("time_distributed_not_layer", lambda x: L.TimeDistributed("dense")),
    ("time_distributed_rank2", lambda x: L.TimeDistributed(L.Dense(2))(gk.Input((4,)))),
    ("mha_output_shape_mismatch",
     lambda x: L.MultiHeadAttention(2, 3).compute_output_shape((None, 4, 6), (None, 5, 7))),
    ("mha_output_shape_key_mismatch",
     lambda x: L.MultiHeadAttention(2, 3).compute_output_shape((None, 4, 6), (None, 5, 6),
                                                               (None, 3, 6))),
    ("einsum_dense_bad_equation",
     lambda x: L.EinsumDense("ab->b", output_shape=3)(gk.Input((4,)))),
    ("einsum_dense_bad_bias",
     lambda x: L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="x")(gk.Input((4,)))),
])
def test_errors_as_tf_keras(name, call):
    kind, message = _error(name)
    x = np.zeros((2, 4, 6), "float32")
    with pytest.raises({"ValueError": ValueError, "TypeError": TypeError}[kind]) as info:
        call(x)
    # tf.keras wraps errors raised inside call() with the call's arguments; its own text
    # (up to any repr of the inputs) is ours
    ours = str(info.value)
    assert type(info.value).__name__ == kind
    assert ours.split(" Received: [[")[0] in message


def test_attention_mask_must_be_a_list():
    x = np.zeros((2, 4, 6), "float32")
    with pytest.raises(ValueError, match="mask must be a list"):
        L.Attention()([x, x], mask=np.ones((2, 4), bool))
