"""Every fixture made by tests/reference/make_layer_fixtures.py with tf.keras: load
tf.keras' JSON, set tf.keras' weights, predict tf.keras' numbers (compiled and eager)."""
import glob
import json
import os

import numpy as np
import pytest

import graphkeras as gk

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sorted(glob.glob(os.path.join(HERE, "..", "fixtures", "layers", "*.json")))
CASES = [os.path.splitext(os.path.basename(p))[0] for p in FIXTURES]


def load(case):
    base = os.path.join(HERE, "..", "fixtures", "layers", case)
    with open(base + ".json") as f:
        meta = json.load(f)
    arrays = np.load(base + ".npz")
    pick = lambda prefix: [arrays[f"{prefix}{i}"] for i in range(sum(  # noqa: E731
        1 for k in arrays.files if k.startswith(prefix) and k[len(prefix):].isdigit()))]
    return meta, pick("x"), pick("w"), pick("y")


def as_list(out):
    return out if isinstance(out, list) else [out]


def test_fixtures_exist():
    assert len(CASES) > 100


@pytest.mark.parametrize("case", CASES)
def test_tf_keras_json_loads_and_predicts_the_same(case):
    meta, xs, ws, ys = load(case)
    model = gk.models.model_from_json(meta["model_json"])
    assert [w.name for w in model.weights] == meta["weight_names"]
    assert [list(w.shape) for w in model.weights] == [list(s) for s in meta["weight_shapes"]]
    model.set_weights(ws)
    x = xs[0] if len(xs) == 1 else xs
    for got, want in zip(as_list(model.predict(x, verbose=0)), ys):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)
    model.run_eagerly = True
    for got, want in zip(as_list(model.predict(x, verbose=0)), ys):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("case", CASES)
def test_json_round_trip_is_stable(case):
    meta, xs, ws, ys = load(case)
    model = gk.models.model_from_json(meta["model_json"])
    text = model.to_json()
    again = gk.models.model_from_json(text)
    assert again.to_json() == text
    assert json.loads(text)["config"]["layers"][-1]["class_name"] == \
        json.loads(meta["model_json"])["config"]["layers"][-1]["class_name"]
