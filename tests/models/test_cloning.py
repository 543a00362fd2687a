"""``gk.models.clone_model``: same architecture, new layers, freshly initialized weights."""
import json

import numpy as np
import pytest

import graphkeras as gk

L = gk.layers


class PairSum(L.Layer):
    def call(self, inputs):
        return inputs[0] + inputs[1]


def _config(model):
    return json.loads(model.to_json())


def _assert_new_layers_and_weights(original, clone):
    def all_layers(model):
        out = []
        for layer in model.layers:
            out.append(layer)
            if hasattr(layer, "layers"):
                out += all_layers(layer)
        return out
    old_layers = {id(layer) for layer in all_layers(original)}
    assert not any(id(layer) in old_layers for layer in all_layers(clone))
    old_weights = {id(w) for w in original.weights}
    assert len(clone.weights) == len(original.weights)
    assert not any(id(w) in old_weights for w in clone.weights)
    assert [w.shape for w in clone.weights] == [w.shape for w in original.weights]
    assert [w.name.split("/")[-1] for w in clone.weights] == \
        [w.name.split("/")[-1] for w in original.weights]


def _mlp():
    return gk.Sequential([L.Dense(16, activation="relu", input_shape=(4,)), L.Dropout(0.3),
                          L.Dense(3, activation="softmax")], name="mlp")


def test_sequential_clone_has_new_weights_and_same_structure(rng):
    model = _mlp()
    clone = gk.models.clone_model(model)
    assert isinstance(clone, gk.Sequential)
    assert clone.name == "mlp"
    assert [layer.name for layer in clone.layers] == ["dense", "dropout", "dense_1"]
    assert clone.built and clone.inputs[0].shape == (None, 4)
    assert _config(clone) == _config(model)
    _assert_new_layers_and_weights(model, clone)
    # freshly initialized, not copied
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
    x = rng.standard_normal((6, 4)).astype("float32")
    assert not np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    # the two models stay independent
    clone.set_weights([w + 1 for w in clone.get_weights()])
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])


def test_sequential_keeps_its_input_layer_name():
    model = gk.Sequential([gk.Input((5,), name="features"), L.Dense(2)])
    clone = gk.models.clone_model(model)
    assert clone.input_names == ["features"]
    assert clone.inputs[0] is not model.inputs[0]
    assert [layer.name for layer in clone.layers] == ["dense"]


def test_deferred_sequential_clone_is_unbuilt(rng):
    model = gk.Sequential([L.Dense(4), L.Dense(2)], name="deferred")
    clone = gk.models.clone_model(model)
    assert not clone.built and clone.name == "deferred"
    assert [type(layer).__name__ for layer in clone.layers] == ["Dense", "Dense"]
    x = rng.standard_normal((3, 7)).astype("float32")
    assert clone.predict(x, verbose=0).shape == (3, 2)


def test_sequential_with_input_tensors(rng):
    model = _mlp()
    new_input = gk.Input((4,), name="new_in")
    clone = gk.models.clone_model(model, input_tensors=new_input)
    assert clone.input_names == ["new_in"]
    assert clone.inputs[0] is new_input
    clone = gk.models.clone_model(model, input_tensors=[gk.Input((4,), name="listed")])
    assert clone.input_names == ["listed"]
    with pytest.raises(ValueError, match="To clone a `Sequential` model, we expect at most one "
                                         "tensor as part of `input_tensors`"):
        gk.models.clone_model(model, input_tensors=[gk.Input((4,)), gk.Input((4,))])


def _merge_model():
    a = gk.Input((4,), name="a")
    b = gk.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    x, y = shared(a), shared(b)
    z = PairSum()([x, y])
    return gk.Model([a, b], [L.Dense(1, name="out")(z), y], name="merge")


def test_functional_clone_keeps_graph_and_shared_layers(rng):
    model = _merge_model()
    clone = gk.models.clone_model(model)
    assert type(clone) is gk.Functional
    assert clone.name == "merge"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.input_names == ["a", "b"] and clone.output_names == model.output_names
    assert _config(clone) == _config(model)
    shared = clone.get_layer("shared")
    assert len(shared._inbound_nodes) == 2  # still one layer called twice
    assert len(clone.weights) == 4
    _assert_new_layers_and_weights(model, clone)
    xs = [rng.standard_normal((5, 4)).astype("float32") for _ in range(2)]
    clone.set_weights(model.get_weights())
    for got, want in zip(clone.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_functional_with_input_tensors():
    model = _merge_model()
    new_a, new_b = gk.Input((4,), name="new_a"), gk.Input((4,), name="new_b")
    clone = gk.models.clone_model(model, input_tensors=[new_a, new_b])
    assert clone.input_names == ["new_a", "new_b"]
    assert clone.inputs[0] is new_a and clone.inputs[1] is new_b
    # as tf.keras: inputs not given are re-created from the original input layers
    clone = gk.models.clone_model(model, input_tensors=[gk.Input((4,), name="only_a")])
    assert clone.input_names == ["only_a", "b"]
    with pytest.raises(ValueError, match="input_tensors"):
        gk.models.clone_model(model, input_tensors=[L.Dense(4)(gk.Input((4,))), new_b])


def test_nested_models_are_cloned_too(rng):
    inner = gk.Sequential([L.Dense(6, input_shape=(4,), name="i1"), L.Dense(3, name="i2")],
                          name="inner")
    inputs = gk.Input((4,))
    model = gk.Model(inputs, L.Dense(2, name="head")(inner(inputs)), name="outer")
    clone = gk.models.clone_model(model)
    nested = clone.get_layer("inner")
    assert isinstance(nested, gk.Sequential) and nested is not inner
    assert [layer.name for layer in nested.layers] == ["i1", "i2"]
    _assert_new_layers_and_weights(model, clone)
    assert _config(clone) == _config(model)
    x = rng.standard_normal((3, 4)).astype("float32")
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_dict_inputs_and_outputs_keep_their_structure(rng):
    a, b = gk.Input((3,), name="a"), gk.Input((2,), name="b")
    model = gk.Model({"b": b, "a": a}, {"o": L.Dense(2, name="o")(a), "p": L.Dense(1, name="p")(b)})
    clone = gk.models.clone_model(model)
    assert list(clone._nested_inputs) == ["b", "a"]
    assert sorted(clone._nested_outputs) == ["o", "p"]
    clone.set_weights(model.get_weights())
    data = {"a": rng.standard_normal((4, 3)).astype("float32"),
            "b": rng.standard_normal((4, 2)).astype("float32")}
    got, want = clone.predict(data, verbose=0), model.predict(data, verbose=0)
    for key in ("o", "p"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6)


def test_functional_subclass_keeps_its_class():
    class Wrapped(gk.Model):
        pass
    inputs = gk.Input((3,))
    model = Wrapped(inputs, L.Dense(2)(inputs), name="wr")
    clone = gk.models.clone_model(model)
    assert type(clone) is Wrapped and clone.name == "wr"
    _assert_new_layers_and_weights(model, clone)


def test_clone_function_sees_each_layer_once_and_no_input_layer():
    model = _merge_model()
    seen = []

    def clone_function(layer):
        seen.append(layer.name)
        config = layer.get_config()
        if layer.name == "out":
            config["units"] = 5  # customise the copy, as tf.keras' docs suggest
        return layer.__class__.from_config(config)

    clone = gk.models.clone_model(model, clone_function=clone_function)
    assert sorted(seen) == ["out", "pair_sum", "shared"]
    assert clone.outputs[0].shape == (None, 5)
    seen.clear()
    gk.models.clone_model(_mlp(), clone_function=clone_function)
    assert seen == ["dense", "dropout", "dense_1"]


def test_clone_function_may_share_layers():
    model = _mlp()
    clone = gk.models.clone_model(model, clone_function=lambda layer: layer)
    assert clone.layers[0] is model.layers[0]
    assert clone.weights[0] is model.weights[0]


@pytest.mark.parametrize("make", [_mlp, _merge_model])
def test_clone_function_must_be_callable(make):
    with pytest.raises(ValueError, match=r"^Expected `layer_fn` argument to be a callable\. "
                                         r"Received: layer_fn=3$"):
        gk.models.clone_model(make(), clone_function=3)


def test_trainable_flags_and_counts_are_kept():
    model = _mlp()
    model.layers[0].trainable = False
    clone = gk.models.clone_model(model)
    assert [layer.trainable for layer in clone.layers] == [False, True, True]
    assert clone.count_params() == model.count_params() == 4 * 16 + 16 + 16 * 3 + 3
    assert len(clone.trainable_weights) == len(model.trainable_weights) == 2


def test_lambda_and_embedding_layers_clone(rng):
    model = gk.Sequential([L.Embedding(20, 4, input_length=3), L.Flatten(),
                           L.Lambda(lambda t: t * 2.0), L.Dense(1)])
    clone = gk.models.clone_model(model)
    assert [type(layer).__name__ for layer in clone.layers] == \
        ["Embedding", "Flatten", "Lambda", "Dense"]
    clone.set_weights(model.get_weights())
    x = rng.integers(0, 20, size=(4, 3)).astype("int32")
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_compiled_model_clone_is_not_compiled():
    model = _mlp()
    model.compile(optimizer="sgd", loss="mse")
    clone = gk.models.clone_model(model)
    assert clone.optimizer is None and not clone._is_compiled


def test_subclassed_model_cannot_be_cloned(rng):
    class TinyNet(gk.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)
    model = TinyNet()
    model(rng.standard_normal((2, 3)).astype("float32"))
    with pytest.raises(ValueError, match="Expected `model` argument to be a functional `Model` "
                                         "instance, but got a subclassed model instead"):
        gk.models.clone_model(model)


def test_subclassed_model_with_get_config_is_rebuilt_from_it():
    class Configured(gk.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.d = L.Dense(units)

        def call(self, x):
            return self.d(x)

        def get_config(self):
            return {"units": self.units}
    model = Configured(3)
    clone = gk.models.clone_model(model)
    assert type(clone) is Configured and clone is not model and clone.units == 3


def test_not_a_model_is_refused():
    with pytest.raises(ValueError, match="Expected `model` argument to be a `Model` instance"):
        gk.models.clone_model("model")
