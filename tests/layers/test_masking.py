"""Mask propagation as tf.keras 2.x: ``supports_masking``/``compute_mask``, ``_keras_mask``
on eager, traced and functional outputs, ``call(mask=...)``, Masking, Embedding(mask_zero),
merges, pooling, nested models, Sequential, and masks in losses and metrics (tf.keras
fixtures: a padded batch gives tf.keras' loss, metrics and SGD step, on both paths)."""
import json

import numpy as np
import pytest

import graphkeras as gk
from attention_cases import (ERRORS, TOL, case_names, check_forward, check_json_round_trip,
                             check_training)
from graphkeras.engine.base_layer import MaskedArray

L = gk.layers
FORWARD = case_names(["masking_", "embedding_mask", "nested_model", "time_distributed_embedding",
                      "time_distributed_dense_masking"])


@pytest.mark.parametrize("name", FORWARD)
def test_forward_and_masks_match_tf_keras(name):
    check_forward(name)


@pytest.mark.parametrize("name", [n for n in FORWARD if not n.startswith("nested")])
def test_tf_keras_json_round_trips(name):
    check_json_round_trip(name)


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_masked_sequence_loss_and_metrics_match_tf_keras(eager):
    # mse over (batch, time, 1) predictions whose padded steps are masked: the loss is the
    # mean over valid steps; mae gets the mask as weights; weighted_mae mask * sample_weight
    check_training("train_masked_sequence_loss", gk.optimizers.SGD(0.2), "mse",
                   metrics=["mae"], weighted_metrics=["mae"], eager=eager)


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_sequential_masking_training_matches_tf_keras(eager):
    check_training("train_sequential_masking", gk.optimizers.SGD(0.1), "mse", metrics=["mae"],
                   eager=eager)


# ------------------------------------------------------------------- Masking layer
def test_masking_layer(rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    x[0, 2:] = 0.5
    x[1, 1] = 0.5
    x[1, 3, 0] = 0.5  # one feature equal to mask_value is not enough
    layer = L.Masking(mask_value=0.5)
    y = layer(x)
    expected = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    assert isinstance(y, MaskedArray)
    np.testing.assert_array_equal(y._keras_mask, expected)
    np.testing.assert_array_equal(layer.compute_mask(x), expected)
    np.testing.assert_allclose(y, x * expected[..., None])
    assert layer.get_config()["mask_value"] == 0.5
    assert L.Masking.from_config(layer.get_config()).get_config() == layer.get_config()
    inp = gk.Input((None, 3))
    out = L.Masking()(inp)
    assert out._keras_mask.shape == (None, None) and out._keras_mask.dtype == "bool"


def test_embedding_mask_zero():
    x = np.array([[4, 0, 2], [0, 0, 1]], "int32")
    masked = L.Embedding(5, 2, mask_zero=True)
    plain = L.Embedding(5, 2)
    np.testing.assert_array_equal(masked(x)._keras_mask, x != 0)
    np.testing.assert_array_equal(masked.compute_mask(x), x != 0)
    assert masked.supports_masking and not plain.supports_masking
    assert getattr(plain(x), "_keras_mask", None) is None
    assert plain.compute_mask(x) is None
    assert gk.Input((3,), dtype="int32") is not None
    t = gk.Input((3,), dtype="int32")
    assert L.Embedding(5, 2, mask_zero=True)(t)._keras_mask.shape == (None, 3)
    assert L.Embedding(5, 2)(t)._keras_mask is None


# --------------------------------------------------------------- base Layer rules
class _Overrides(gk.layers.Layer):
    def compute_mask(self, inputs, mask=None):
        return mask


class _Records(gk.layers.Layer):
    """Passes its input through and records the mask call() received."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, mask=None):
        self.seen.append(None if mask is None else np.asarray(mask))
        return gk.ops.multiply(inputs, 1.0)


def test_supports_masking_defaults_and_compute_mask():
    plain, overriding = gk.layers.Layer(), _Overrides()
    assert plain.supports_masking is False and overriding.supports_masking is True
    assert L.Dense(2).supports_masking and L.Dropout(0.1).supports_masking
    flatten = L.Flatten()
    assert not flatten.supports_masking
    mask = np.ones((2, 4), bool)
    with pytest.raises(TypeError) as info:
        flatten.compute_mask(np.zeros((2, 4, 6), "float32"), mask)
    assert str(info.value) == ERRORS["flatten_given_mask"]["message"]
    assert plain.compute_mask(np.zeros((2, 4)), None) is None
    dense = L.Dense(2)
    assert dense.compute_mask(None, mask) is mask  # passed through
    plain.supports_masking = True
    assert plain.compute_mask(None, mask) is mask


def test_mask_reaches_call_and_propagates(rng):
    x = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    emb = L.Embedding(5, 2, mask_zero=True)
    rec = _Records()
    y = rec(emb(x))
    np.testing.assert_array_equal(rec.seen[-1], x != 0)  # implicit: from the input
    assert getattr(y, "_keras_mask", None) is None  # _Records does not support masking
    explicit = np.array([[1, 0, 0], [1, 1, 1]], bool)
    rec(emb(x), mask=explicit)  # an explicit mask wins
    np.testing.assert_array_equal(rec.seen[-1], explicit)
    rec(np.zeros((2, 3, 2), "float32"))
    assert rec.seen[-1] is None
    # dense (no mask argument) passes the mask on, flatten drops it
    d = L.Dense(3)(emb(x))
    np.testing.assert_array_equal(d._keras_mask, x != 0)
    assert getattr(L.Flatten()(emb(x)), "_keras_mask", None) is None


def test_functional_graph_masks_and_call_arguments():
    t = gk.Input((3,), dtype="int32")
    e = L.Embedding(5, 2, mask_zero=True)(t)
    rec = _Records()
    r = rec(e)
    d = L.Dense(4)(e)
    g = L.GlobalAveragePooling1D()(d)
    assert e._keras_mask.shape == (None, 3) and d._keras_mask.shape == (None, 3)
    assert r._keras_mask is None and g._keras_mask is None
    assert rec.seen[-1] is not None  # the shape trace received a mask placeholder
    node = rec._inbound_nodes[0]
    assert "mask" not in node.call_kwargs  # the framework's mask is not recorded
    model = gk.Model(t, [r, g])
    x = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    model.run_eagerly = True
    model(x)
    np.testing.assert_array_equal(rec.seen[-1], x != 0)
    model.predict(x, verbose=0)  # traced: the mask is a symbolic tensor there
    assert rec.seen[-1].dtype == object


def test_explicit_mask_argument_serializes_as_tf_keras(rng):
    x = gk.Input((5, 4))
    m = gk.Input((5,), dtype="bool")
    g = L.GlobalAveragePooling1D()(x, mask=m)
    a = L.Attention()([x, x], mask=[m, m])
    model = gk.Model([x, m], [g, a])
    layers = json.loads(model.to_json())["config"]["layers"]
    # tf.keras' layout for these calls
    assert layers[2]["inbound_nodes"] == [[["input_1", 0, 0, {"mask": ["input_2", 0, 0]}]]]
    assert layers[3]["inbound_nodes"] == [[["input_1", 0, 0, {"mask": [["input_2", 0, 0],
                                                                      ["input_2", 0, 0]]}]] * 2]
    xv = rng.normal(size=(2, 5, 4)).astype("float32")
    mv = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool)
    before = model.predict([xv, mv], verbose=0)
    np.testing.assert_allclose(before[0][0], xv[0, :2].mean(0), **TOL)
    clone = gk.models.model_from_json(model.to_json())
    after = clone.predict([xv, mv], verbose=0)
    for p, q in zip(before, after):
        np.testing.assert_allclose(p, q, **TOL)


def test_model_call_with_mask_argument(rng):
    x = gk.Input((3, 2))
    model = gk.Model(x, L.GlobalAveragePooling1D()(L.Dense(2)(x)))
    data = rng.normal(size=(2, 3, 2)).astype("float32")
    mask = np.array([[1, 0, 0], [1, 1, 0]], bool)
    model.run_eagerly = True
    full = np.asarray(model(data))
    masked = np.asarray(model(data, mask=mask))
    dense = model.layers[1]
    first = np.asarray(dense(data[:, :1]))[:, 0]
    np.testing.assert_allclose(masked[0], first[0], **TOL)
    assert not np.allclose(full, masked)
    np.testing.assert_array_equal(model.compute_mask(data, mask), None)


def test_merge_masks(rng):
    a = L.Masking()(gk.Input((3, 2)))
    b = gk.Input((3, 2))
    assert L.Concatenate()([a, b])._keras_mask.shape == (None, 3)
    assert L.Add()([a, b])._keras_mask.shape == (None, 3)
    assert L.Add()([b, b])._keras_mask is None


def test_nested_model_and_sequential_carry_masks():
    inner_in = gk.Input((4,), dtype="int32")
    inner = gk.Model(inner_in, L.Dense(2)(L.Embedding(6, 3, mask_zero=True)(inner_in)))
    t = gk.Input((4,), dtype="int32")
    h = inner(t)
    assert h._keras_mask.shape == (None, 4)
    seq = gk.Sequential([L.Embedding(6, 3, mask_zero=True, input_length=4), L.Dense(2)])
    assert seq.outputs[0]._keras_mask.shape == (None, 4)
    x = np.array([[1, 0, 0, 0], [2, 3, 4, 0]], "int32")
    seq.run_eagerly = True
    np.testing.assert_array_equal(seq(x)._keras_mask, x != 0)


def test_padded_batch_gives_the_loss_of_the_valid_steps(rng):
    """The mean loss over valid timesteps, whatever the padding: one masked batch equals
    the same data with more padding, and equals the loss computed on valid steps only."""
    t = gk.Input((None,), dtype="int32")
    y = L.Dense(1)(L.Embedding(7, 3, mask_zero=True)(t))
    model = gk.Model(t, y)
    model.compile("sgd", "mse", metrics=["mae"])
    x = np.array([[1, 2, 0, 0], [3, 4, 5, 0]], "int32")
    target = rng.normal(size=(2, 4, 1)).astype("float32")
    got = model.evaluate(x, target, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    valid = x != 0
    err = (pred - target)[..., 0][valid]
    np.testing.assert_allclose(got["loss"], np.mean(err ** 2), rtol=1e-5)
    np.testing.assert_allclose(got["mae"], np.mean(np.abs(err)), rtol=1e-5)
    longer = model.evaluate(np.pad(x, ((0, 0), (0, 2))), np.pad(target, ((0, 0), (0, 2), (0, 0))),
                            verbose=0, return_dict=True)
    for k in got:
        np.testing.assert_allclose(longer[k], got[k], rtol=1e-5)
