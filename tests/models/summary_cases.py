"""Models whose ``summary()`` text must equal tf.keras 2.x's, character for character.

Each builder takes the framework module ``K`` (``tf_keras`` when the fixtures are
made by tests/reference/make_summary_fixtures.py, ``graphkeras`` in
tests/models/test_summary.py) and builds the same model with the same layer
names in both. ``CASES`` maps a fixture name (tests/fixtures/summary/<name>.txt)
to ``(builder, summary kwargs)``. This module must not import tensorflow.
"""
import numpy as np


def seq_dense(K):
    return K.Sequential([K.layers.Dense(10, input_shape=(784,))])


def seq_mlp(K):
    return K.Sequential([
        K.layers.Dense(64, activation="relu", input_shape=(20,)),
        K.layers.Dropout(0.5),
        K.layers.Dense(10, activation="softmax"),
    ])


def seq_embedding(K):
    return K.Sequential([
        K.layers.Embedding(1000, 16, input_length=8),
        K.layers.Flatten(),
        K.layers.Dense(1, activation="sigmoid"),
    ])


def seq_shapes(K):
    """Output shapes too wide for their column: they wrap onto more lines."""
    return K.Sequential([
        K.layers.Reshape((2, 3, 4), input_shape=(24,)),
        K.layers.Permute((3, 1, 2)),
        K.layers.Flatten(),
        K.layers.RepeatVector(3),
        K.layers.Reshape((1,) * 12 + (72,)),
    ])


def seq_deferred(K):
    model = K.Sequential([K.layers.Dense(4), K.layers.Dense(2)])
    model.build((None, 3))
    return model


def seq_no_params(K):
    return K.Sequential([K.layers.Flatten(input_shape=(2, 2))])


def seq_lambda(K):
    return K.Sequential([
        K.layers.Dense(3, input_shape=(5,)),
        K.layers.Lambda(lambda t: t * 2.0),
        K.layers.Activation("tanh"),
    ])


def seq_dtypes(K):
    """Weights of several dtypes: the byte counts use each dtype's size."""
    return K.Sequential([
        K.layers.Embedding(1000, 300, input_length=5, name="emb"),
        K.layers.Dense(700, dtype="float64", name="d64"),
        K.layers.Dense(3, dtype="float16", name="d16"),
    ])


def func_chain(K):
    """A functional model that is a plain chain: no "Connected to" column."""
    inputs = K.Input((4,), name="features")
    x = K.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = K.layers.Dense(1, name="score")(x)
    return K.Model(inputs, outputs, name="chain")


def func_branch_outputs(K):
    """Two outputs, one feeding the other: still a chain for the summary."""
    inputs = K.Input((4,), name="in")
    x = K.layers.Dense(3, name="d1")(inputs)
    y = K.layers.Dense(2, name="d2")(x)
    return K.Model(inputs, [x, y])


def func_fork(K):
    inputs = K.Input((4,), name="in")
    x = K.layers.Dense(3, name="d1")(inputs)
    y = K.layers.Dense(2, name="d2")(x)
    z = K.layers.Dense(2, name="xd3")(x)
    return K.Model(inputs, [y, z])


def _pair_sum_class(K):
    class PairSum(K.layers.Layer):
        def call(self, inputs):
            return inputs[0] + inputs[1]
    return PairSum


def func_merge(K):
    """Two inputs joined by a merge layer: the "Connected to" column."""
    a = K.Input((4,), name="a")
    b = K.Input((4,), name="b")
    x = K.layers.Dense(3)(a)
    y = K.layers.Dense(3)(b)
    z = _pair_sum_class(K)()([x, y])
    out = K.layers.Dense(1, name="out")(z)
    return K.Model([a, b], out)


def func_concatenate(K):
    a = K.Input((4,), name="left")
    b = K.Input((6,), name="right")
    x = K.layers.Dense(3)(a)
    z = K.layers.Concatenate()([x, b])
    return K.Model([a, b], K.layers.Dense(2)(z))


def func_shared_layer(K):
    """One layer called on two inputs: two nodes in its "Connected to" cell."""
    a = K.Input((4,), name="a")
    b = K.Input((4,), name="b")
    shared = K.layers.Dense(3, name="shared")
    x, y = shared(a), shared(b)
    return K.Model([a, b], [K.layers.Dense(1, name="head_a")(x), K.layers.Dense(2, name="head_b")(y)])


def _split_class(K):
    class SplitHalves(K.layers.Layer):
        def call(self, inputs):
            return [inputs[:, :2], inputs[:, 2:]]
    return SplitHalves


def func_multi_output_layer(K):
    """A layer with two outputs: a list of shapes, and tensor indices in "Connected to"."""
    inputs = K.Input((4,))
    first, second = _split_class(K)()(inputs)
    out = _pair_sum_class(K)()([second, first])
    return K.Model(inputs, out, name="splitter")


def func_long_names(K):
    inputs = K.Input((4,), name="in")
    x = K.layers.Dense(3, name="a_very_long_layer_name_that_goes_on_and_on_forever")(inputs)
    x = K.layers.Reshape((3, 1, 1, 1, 1, 1), name="r")(x)
    x = K.layers.Reshape((1,) * 14 + (3,), name="r2")(x)
    return K.Model(inputs, x)


def func_subclass(K):
    """A Model subclass built from inputs and outputs (a functional model)."""
    class Wrapped(K.Model):
        pass
    inputs = K.Input((3,))
    return Wrapped(inputs, K.layers.Dense(2)(K.layers.Dense(4)(inputs)))


def nested_seq_in_func(K):
    inner = K.Sequential([K.layers.Dense(8, input_shape=(4,)), K.layers.Dense(4)], name="inner")
    inputs = K.Input((4,))
    outputs = K.layers.Dense(2)(inner(inputs))
    return K.Model(inputs, outputs, name="outer")


def nested_deep_shared(K):
    """A model used twice, holding a model that holds layers (three levels)."""
    a = K.Input((4,), name="a")
    b = K.Input((4,), name="b")
    ii = K.Input((4,))
    inner2 = K.Model(ii, K.layers.Dense(3, name="d_in")(ii), name="inner2")
    mid_in = K.Input((4,))
    mid = K.Model(mid_in, inner2(K.layers.Dense(4, name="d_mid")(mid_in)), name="mid")
    x, y = mid(a), mid(b)
    z = _pair_sum_class(K)()([x, y])
    return K.Model([a, b], [z, x], name="shared")


def nested_last(K, freeze_inner=False):
    """A nested Sequential as the last layer, its first layer frozen."""
    inner = K.Sequential([K.layers.Dense(8, input_shape=(4,), name="i1"),
                          K.layers.Dense(4, name="i2")], name="inner")
    inner.layers[0].trainable = False
    model = K.Sequential([K.layers.Dense(4, input_shape=(3,), name="first"), inner], name="outer")
    if freeze_inner:
        inner.trainable = False
    return model


def nested_frozen(K):
    return nested_last(K, freeze_inner=True)


def nontrainable_layer(K):
    model = K.Sequential([K.layers.Dense(5, input_shape=(3,), name="frozen"),
                          K.layers.Dense(2, name="head")])
    model.get_layer("frozen").trainable = False
    return model


def _sub_class(K):
    class TinyNet(K.Model):
        def __init__(self):
            super().__init__()
            self.d1 = K.layers.Dense(5)
            self.d2 = K.layers.Dense(2)
            self.unused = K.layers.Dense(3)

        def call(self, x):
            return self.d2(self.d1(x))
    return TinyNet


def subclassed_called(K):
    """Layers of a subclassed model have no symbolic output shape: "multiple"."""
    model = _sub_class(K)()
    model(np.zeros((2, 3), "float32"))
    return model


def subclassed_built(K):
    model = _sub_class(K)()
    model.build((None, 3))
    return model


def subclassed_nested(K):
    class BlockNet(K.Model):
        def __init__(self):
            super().__init__()
            self.block = K.Sequential([K.layers.Dense(5, name="b1"), K.layers.Dense(5, name="b2")],
                                      name="block")
            self.head = K.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.block(x))
    model = BlockNet()
    model.build((None, 3))
    return model


def subclassed_mixed(K):
    """A subclassed model holding a functional model and two Sequentials."""
    class Mixed(K.Model):
        def __init__(self):
            super().__init__()
            inputs = K.Input((4,))
            self.block = K.Model(inputs, K.layers.Dense(5, name="fb")(inputs), name="fblock")
            self.s = K.Sequential([K.layers.Dense(5, name="sb")], name="sblock")
            self.s2 = K.Sequential([K.layers.Dense(5, name="sb2", input_shape=(5,))], name="sblock2")
            self.head = K.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.s2(self.s(self.block(x))))
    model = Mixed()
    model.build((None, 4))
    return model


def nested_other_shape(K):
    """A nested model reports the output shape of its own graph."""
    inputs = K.Input((None, 4))
    inner = K.Model(inputs, K.layers.Dense(3)(inputs), name="inner")
    outer_in = K.Input((7, 4))
    return K.Model(outer_in, inner(outer_in))


def nested_multi_output(K):
    inputs = K.Input((4,))
    inner = K.Model(inputs, [K.layers.Dense(3, name="p")(inputs), K.layers.Dense(2, name="q")(inputs)],
                    name="two_heads")
    outer_in = K.Input((4,), name="x")
    first, second = inner(outer_in)
    return K.Model(outer_in, [K.layers.Dense(1, name="r")(first), second], name="outer")


CASES = {
    "seq_dense": (seq_dense, {}),
    "seq_mlp": (seq_mlp, {}),
    "seq_mlp_trainable": (seq_mlp, {"show_trainable": True}),
    "seq_embedding": (seq_embedding, {}),
    "seq_shapes": (seq_shapes, {}),
    "seq_deferred": (seq_deferred, {}),
    "seq_no_params": (seq_no_params, {}),
    "seq_lambda": (seq_lambda, {}),
    "seq_dtypes": (seq_dtypes, {}),
    "seq_range": (seq_mlp, {"layer_range": ["dropout", "dense_1"]}),
    "func_chain": (func_chain, {}),
    "func_branch_outputs": (func_branch_outputs, {}),
    "func_fork": (func_fork, {}),
    "func_fork_range": (func_fork, {"layer_range": ["d.", "x"]}),
    "func_fork_range_reversed": (func_fork, {"layer_range": ["d2", "d1"]}),
    "func_merge": (func_merge, {}),
    "func_merge_trainable": (func_merge, {"show_trainable": True}),
    "func_concatenate": (func_concatenate, {}),
    "func_shared_layer": (func_shared_layer, {}),
    "func_multi_output_layer": (func_multi_output_layer, {}),
    "func_long_names": (func_long_names, {}),
    "func_long_names_trainable": (func_long_names, {"show_trainable": True}),
    "func_long_names_narrow": (func_long_names, {"line_length": 50}),
    "func_long_names_positions": (func_long_names,
                                  {"line_length": 120, "positions": [0.5, 0.7, 0.9, 1.0]}),
    "func_long_names_absolute": (func_long_names, {"positions": [40, 60, 80]}),
    "func_merge_positions": (func_merge, {"line_length": 80, "positions": [0.25, 0.5, 0.6, 1.0],
                                          "show_trainable": True}),
    "func_subclass": (func_subclass, {}),
    "nested_seq_in_func": (nested_seq_in_func, {}),
    "nested_seq_in_func_expanded": (nested_seq_in_func, {"expand_nested": True}),
    "nested_seq_in_func_expanded_trainable": (nested_seq_in_func,
                                              {"expand_nested": True, "show_trainable": True}),
    "nested_deep_shared": (nested_deep_shared, {}),
    "nested_deep_shared_expanded": (nested_deep_shared, {"expand_nested": True}),
    "nested_deep_shared_expanded_trainable": (nested_deep_shared,
                                              {"expand_nested": True, "show_trainable": True}),
    "nested_last_expanded": (nested_last, {"expand_nested": True, "show_trainable": True}),
    "nested_last": (nested_last, {}),
    "nested_frozen_expanded": (nested_frozen, {"expand_nested": True, "show_trainable": True}),
    "nontrainable_layer": (nontrainable_layer, {"show_trainable": True}),
    "subclassed_called": (subclassed_called, {}),
    "subclassed_called_trainable": (subclassed_called, {"show_trainable": True}),
    "subclassed_built": (subclassed_built, {}),
    "subclassed_nested_expanded": (subclassed_nested, {"expand_nested": True}),
    "subclassed_mixed_expanded": (subclassed_mixed, {"expand_nested": True}),
    "nested_other_shape": (nested_other_shape, {}),
    "nested_multi_output_expanded": (nested_multi_output, {"expand_nested": True,
                                                           "show_trainable": True}),
}

# summary() calls that raise: fixture errors.json holds tf.keras' (type, message)
ERROR_CASES = {
    "range_length": (func_fork, {"layer_range": ["d2"]}),
    "range_no_match": (func_fork, {"layer_range": ["zz", "d2"]}),
    "range_not_prefix": (func_fork, {"layer_range": ["1", "d2"]}),
    "range_not_str": (func_fork, {"layer_range": ("d1", 5)}),
    "range_string": (func_fork, {"layer_range": "ab"}),
    "not_built": (lambda K: K.Sequential([K.layers.Dense(4)]), {}),
    "subclass_not_built": (lambda K: _sub_class(K)(), {}),
}
