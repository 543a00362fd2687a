"""A functional model deeper than Python's recursion limit (3,000 layers in a chain)
builds, predicts, saves and loads (.keras and .h5), and its JSON reloads: nothing on
the way recurses once per layer (``map_graph_network`` once did)."""
import sys

import numpy as np

import graphkeras as gk
from graphkeras.engine.functional import map_graph_network

DEPTH = 3000


def _chain():
    inp = gk.Input((3,), name="x")
    h = gk.layers.Dense(4, name="first")(inp)
    for i in range(DEPTH - 2):
        h = gk.layers.Activation("relu" if i % 2 else "linear", name=f"act_{i}")(h)
    return gk.Model(inp, gk.layers.Dense(2, name="last")(h), name="chain")


def test_deep_chain_builds_predicts_saves_and_loads(tmp_path):
    assert DEPTH > sys.getrecursionlimit()
    model = _chain()
    assert len(model.layers) == DEPTH + 1  # with the InputLayer
    assert [layer.name for layer in model.layers[:3]] == ["x", "first", "act_0"]
    assert model.layers[-1].name == "last"
    nodes, layers = map_graph_network(model.inputs, model.outputs)
    assert len(nodes) == DEPTH + 1 and layers == model.layers
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    w1, b1, w2, b2 = model.get_weights()
    want = np.maximum(x @ w1 + b1, 0) @ w2 + b2  # linear and relu alternate: relu overall
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    model.save(str(tmp_path / "chain.keras"))
    loaded = gk.models.load_model(str(tmp_path / "chain.keras"))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), got)

    model.save(str(tmp_path / "chain.h5"))
    from_h5 = gk.models.load_model(str(tmp_path / "chain.h5"), compile=False)
    assert [layer.name for layer in from_h5.layers] == [layer.name for layer in model.layers]
    for a, b in zip(from_h5.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)

    rebuilt = gk.models.model_from_json(model.to_json())
    assert len(rebuilt.layers) == DEPTH + 1 and rebuilt.layers[-2].name == f"act_{DEPTH - 3}"
    for a, b in zip(rebuilt.weights, model.weights):
        assert a.shape == b.shape
