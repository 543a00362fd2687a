"""Operators and gk.ops on functional-API tensors record TFOpLambda layers."""
import json

import numpy as np
import pytest

import graphkeras as gk


def test_operators_build_a_model_and_round_trip(rng):
    a, b = gk.Input((4,)), gk.Input((4,))
    total = (a + b) * 2.0
    out = 1.0 - total
    part = out[:, 1:3]
    model = gk.Model([a, b], [out, part])
    xa, xb = rng.random((3, 4), dtype=np.float32), rng.random((3, 4), dtype=np.float32)
    got = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(got[0], 1 - (xa + xb) * 2, rtol=1e-6)
    np.testing.assert_allclose(got[1], (1 - (xa + xb) * 2)[:, 1:3], rtol=1e-6)
    layers = json.loads(model.to_json())["config"]["layers"]
    assert [entry["config"].get("function") for entry in layers[2:]] == [
        "__operators__.add", "math.multiply", "math.subtract", "__operators__.getitem"]
    # reflected operator: the constant is the first argument, as tf.keras writes it
    assert layers[4]["inbound_nodes"][0][0] == "_CONSTANT_VALUE"
    clone = gk.models.model_from_json(model.to_json())
    for u, v in zip(clone.predict([xa, xb], verbose=0), got):
        np.testing.assert_array_equal(u, v)


def test_gk_ops_on_keras_tensors(rng):
    x = gk.Input((4,))
    h = gk.ops.mean(gk.ops.concatenate([x, gk.ops.square(x)], axis=1), axis=-1, keepdims=True)
    model = gk.Model(x, h)
    data = rng.random((5, 4), dtype=np.float32)
    want = np.concatenate([data, data ** 2], 1).mean(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-6)
    clone = gk.models.model_from_json(model.to_json())
    np.testing.assert_allclose(clone.predict(data, verbose=0), want, rtol=1e-6)


def test_gk_ops_still_run_eagerly(rng):
    data = rng.random((2, 3), dtype=np.float32)
    np.testing.assert_allclose(gk.ops.square(data), data ** 2)


def test_unknown_tf_function_is_a_clear_error():
    entry = {"class_name": "TFOpLambda", "config": {"name": "tf.signal.fft", "function": "signal.fft"}}
    from graphkeras.engine.functional import deserialize_layer
    with pytest.raises(ValueError, match="signal.fft"):
        deserialize_layer(entry)
