"""The three ways to build a model, compiled predict, introspection and errors."""
import collections

import numpy as np
import onnxruntime as ort
import pytest

import graphkeras as gk


def functional_mlp():
    x = gk.Input((6,))
    h = gk.layers.Dense(5, activation="relu")(x)
    h = gk.layers.Dropout(0.5)(h)
    y = gk.layers.Dense(3, activation="softmax")(h)
    return gk.Model(x, y)


class SubclassedMLP(gk.Model):
    def __init__(self):
        super().__init__()
        self.hidden = gk.layers.Dense(5, activation="relu")
        self.drop = gk.layers.Dropout(0.5)
        self.out = gk.layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.drop(self.hidden(inputs), training=training))


@pytest.fixture
def data(rng):
    return rng.standard_normal((37, 6)).astype(np.float32)


def test_functional_sequential_subclassed_agree(data):
    f = functional_mlp()
    s = gk.Sequential([gk.layers.Dense(5, activation="relu", input_shape=(6,)),
                       gk.layers.Dropout(0.5), gk.layers.Dense(3, activation="softmax")])
    c = SubclassedMLP()
    c.predict(data[:2], verbose=0)  # builds it
    weights = f.get_weights()
    s.set_weights(weights)
    c.set_weights(weights)
    expected = f.predict(data, verbose=0)
    np.testing.assert_allclose(s.predict(data, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(c.predict(data, verbose=0), expected, rtol=1e-6)
    # and by hand, with numpy
    k0, b0, k1, b1 = weights
    logits = np.maximum(data @ k0 + b0, 0) @ k1 + b1
    ref = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(expected, ref / ref.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_eager_path_matches_compiled(data):
    model = functional_mlp()
    compiled = model.predict(data, verbose=0)
    model.run_eagerly = True
    np.testing.assert_allclose(model.predict(data, verbose=0), compiled, rtol=1e-5, atol=1e-7)


def test_call_on_numpy_and_predict_on_batch(data):
    model = functional_mlp()
    expected = model.predict(data, verbose=0)
    np.testing.assert_allclose(model(data), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(data), expected, rtol=1e-6)


def test_predict_batches_and_partial_last_batch(data):
    model = functional_mlp()
    full = model.predict_on_batch(data)
    for batch_size in (1, 5, 32, 100):
        np.testing.assert_allclose(model.predict(data, batch_size=batch_size, verbose=0), full,
                                   rtol=1e-6)
    assert model.predict(data, steps=2, batch_size=10, verbose=0).shape == (20, 3)


def test_predict_verbose_progress_bar(data, capsys):
    functional_mlp().predict(data, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert "4/4 [==============================]" in out


def test_set_weights_is_seen_by_compiled_predict(data):
    model = functional_mlp()
    before = model.predict(data, verbose=0)
    weights = model.get_weights()
    weights[2] = weights[2] * 3.0
    model.set_weights(weights)
    after = model.predict(data, verbose=0)
    assert not np.allclose(before, after)
    model.run_eagerly = True
    np.testing.assert_allclose(model.predict(data, verbose=0), after, rtol=1e-5, atol=1e-7)


def test_shared_layer_between_models(data):
    shared = gk.layers.Dense(4)
    a_in = gk.Input((6,))
    a = gk.Model(a_in, shared(a_in))
    b_in = gk.Input((6,))
    b = gk.Model(b_in, gk.layers.Activation("tanh")(shared(b_in)))
    np.testing.assert_allclose(np.tanh(a.predict(data, verbose=0)), b.predict(data, verbose=0),
                               rtol=1e-5, atol=1e-6)
    shared.set_weights([np.ones((6, 4), np.float32), np.zeros(4, np.float32)])
    np.testing.assert_allclose(a.predict(data, verbose=0), data.sum(1, keepdims=True).repeat(4, 1),
                               rtol=1e-5, atol=1e-5)


def test_multi_input_multi_output_list_and_dict(rng):
    a = gk.Input((3,), name="a")
    b = gk.Input((2,), name="b")
    h = gk.layers.Dense(4)(a)
    g = gk.layers.Dense(4)(b)
    out = gk.layers.Dense(1, name="out")(gk.layers.Activation("relu")(h))
    out_1 = gk.layers.Dense(2, name="out_1")(g)
    model = gk.Model([a, b], [out, out_1])
    xa = rng.random((9, 3), dtype=np.float32)
    xb = rng.random((9, 2), dtype=np.float32)
    by_list = model.predict([xa, xb], verbose=0)
    by_dict = model.predict({"a": xa, "b": xb}, verbose=0)
    assert isinstance(by_list, list) and [o.shape for o in by_list] == [(9, 1), (9, 2)]
    for u, v in zip(by_list, by_dict):
        np.testing.assert_array_equal(u, v)
    assert model.input_names == ["a", "b"]
    assert model.output_names == ["out", "out_1"]


def test_dict_outputs(rng):
    x = gk.Input((3,))
    model = gk.Model(x, {"first": gk.layers.Dense(2)(x), "second": gk.layers.Dense(1)(x)})
    out = model.predict(rng.random((4, 3), dtype=np.float32), verbose=0)
    assert set(out) == {"first", "second"}
    assert out["first"].shape == (4, 2) and out["second"].shape == (4, 1)


def test_generator_and_sequence_inputs(data):
    model = functional_mlp()
    expected = model.predict(data, batch_size=10, verbose=0)

    class Batches(gk.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return data[i * 10:(i + 1) * 10]

    np.testing.assert_allclose(model.predict(Batches(), verbose=0), expected, rtol=1e-6)
    gen = (data[i:i + 10] for i in range(0, 37, 10))
    np.testing.assert_allclose(model.predict(gen, verbose=0), expected, rtol=1e-6)


def test_deferred_sequential_builds_on_first_data(data):
    model = gk.Sequential()
    model.add(gk.layers.Dense(4, activation="relu"))
    model.add(gk.layers.Dense(2))
    assert not model.built
    out = model.predict(data, verbose=0)
    assert out.shape == (37, 2) and model.built
    assert [w.shape for w in model.weights] == [(6, 4), (4,), (4, 2), (2,)]
    model.pop()
    assert model.predict(data, verbose=0).shape == (37, 4)


def test_float64_and_int_inputs_are_cast(data):
    model = functional_mlp()
    np.testing.assert_allclose(model.predict(data.astype(np.float64), verbose=0),
                               model.predict(data, verbose=0), rtol=1e-6)


def test_onnx_graph_names_and_plain_onnxruntime(data, tmp_path):
    model = functional_mlp()
    path = gk.export.save_predict_onnx(model, str(tmp_path / "predict.onnx"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_1"]
    assert [o.name for o in session.get_outputs()] == ["dense_1"]
    assert session.get_inputs()[0].shape[0] == "batch"
    np.testing.assert_allclose(session.run(None, {"input_1": data})[0], model.predict(data, verbose=0),
                               rtol=1e-6)


# ---------------------------------------------------------------- errors
def test_wrong_input_shape_names_input_and_shapes():
    model = functional_mlp()
    with pytest.raises(ValueError, match=r"input 'input_1' expects shape \(None, 6\), got \(32, 5\)"):
        model.predict(np.zeros((32, 5), np.float32), verbose=0)
    with pytest.raises(ValueError, match="expects shape"):
        model.predict(np.zeros((32, 6, 1), np.float32), verbose=0)


def test_string_data_is_refused():
    with pytest.raises(ValueError, match="numeric"):
        functional_mlp().predict(np.array([["a"] * 6]), verbose=0)


def test_namedtuple_is_refused():
    Pair = collections.namedtuple("Pair", ["a", "b"])
    with pytest.raises(ValueError, match="namedtuple"):
        functional_mlp().predict(Pair(np.zeros((2, 6)), np.zeros((2, 6))), verbose=0)


def test_empty_data_is_refused():
    with pytest.raises(ValueError, match="0 samples"):
        functional_mlp().predict(np.zeros((0, 6), np.float32), verbose=0)


def test_set_weights_errors_name_layer_and_shapes():
    model = functional_mlp()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expecting 4 weights"):
        model.set_weights(weights[:3])
    weights[0] = np.zeros((7, 5), np.float32)
    with pytest.raises(ValueError, match=r"\(6, 5\).*\(7, 5\)"):
        model.set_weights(weights)
    with pytest.raises(ValueError, match=r'Layer "dense".*\(6, 5\).*\(2, 2\)'):
        model.get_layer("dense").set_weights([np.zeros((2, 2)), np.zeros(5)])


def test_unknown_layer_keyword_is_type_error():
    with pytest.raises(TypeError, match="Keyword argument not understood"):
        gk.layers.Dense(3, bogus=1)


def test_get_layer():
    model = functional_mlp()
    assert model.get_layer("dense_1") is model.layers[3]
    assert model.get_layer(index=1).name == "dense"
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="only has 4 layers"):
        model.get_layer(index=9)
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        model.get_layer()


def test_to_yaml_is_a_security_risk():
    with pytest.raises(RuntimeError, match="security risk"):
        functional_mlp().to_yaml()


def test_incompatible_layer_input():
    x = gk.Input((6,))
    dense = gk.layers.Dense(2)
    dense(x)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 6"):
        dense(gk.Input((5,)))


# ---------------------------------------------------------------- introspection
def test_weights_and_counts():
    model = functional_mlp()
    assert [w.name for w in model.weights] == ["dense/kernel:0", "dense/bias:0",
                                               "dense_1/kernel:0", "dense_1/bias:0"]
    assert model.count_params() == 6 * 5 + 5 + 5 * 3 + 3
    assert len(model.trainable_weights) == 4 and model.non_trainable_weights == []
    model.get_layer("dense").trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_inputs_outputs_and_save_spec():
    model = functional_mlp()
    assert model.inputs[0].shape == (None, 6) and model.outputs[0].shape == (None, 3)
    args, kwargs = model.save_spec()
    assert args[0].shape == (None, 6) and args[0].dtype == "float32" and kwargs == {}


def test_layer_works_eagerly_on_numpy(rng):
    layer = gk.layers.Dense(2, activation="relu")
    x = rng.random((3, 4), dtype=np.float32)
    out = layer(x)
    k, b = layer.get_weights()
    np.testing.assert_allclose(out, np.maximum(x @ k + b, 0), rtol=1e-6)


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_json_round_trip_predicts_the_same(kind, data):
    if kind == "functional":
        model = functional_mlp()
    elif kind == "sequential":
        model = gk.Sequential([gk.layers.Dense(5, activation="relu", input_shape=(6,)),
                               gk.layers.Dense(3)])
    else:
        model = SubclassedMLP()
        model.predict(data[:1], verbose=0)
    text = model.to_json()
    clone = gk.models.model_from_json(text)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
    if kind != "subclassed":
        assert clone.to_json() == text
    assert [w.name for w in clone.weights] == [w.name for w in model.weights]


def test_get_config_from_config_round_trip(data):
    model = functional_mlp()
    clone = gk.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(data, verbose=0), model.predict(data, verbose=0))
    assert clone.get_config() == model.get_config()


def test_lambda_layer_on_ops(data):
    x = gk.Input((6,))
    y = gk.layers.Lambda(lambda t: gk.ops.square(t) * 2.0)(x)
    model = gk.Model(x, y)
    np.testing.assert_allclose(model.predict(data, verbose=0), data ** 2 * 2, rtol=1e-6)


def test_custom_layer_with_add_weight(data):
    class Scale(gk.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.w = self.add_weight("w", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.w

        def get_config(self):
            return super().get_config()

    x = gk.Input((6,))
    layer = Scale()
    model = gk.Model(x, layer(x))
    layer.set_weights([np.arange(6, dtype=np.float32)])
    np.testing.assert_allclose(model.predict(data, verbose=0), data * np.arange(6), rtol=1e-6)
    text = model.to_json()
    with pytest.raises(ValueError, match="Unknown layer: 'Scale'"):
        gk.models.model_from_json(text)
    clone = gk.models.model_from_json(text, custom_objects={"Scale": Scale})
    assert clone.layers[1].name == layer.name


def test_model_input_and_output_shapes():
    x = gk.Input((3,))
    model = gk.Model(x, [gk.layers.Dense(2)(x), gk.layers.Dense(4)(x)])
    assert model.input_shape == (None, 3)
    assert model.output_shape == [(None, 2), (None, 4)]
    seq = gk.Sequential([gk.layers.Dense(2, input_shape=(5,))])
    assert seq.output_shape == (None, 2) and seq.input_shape == (None, 5)
