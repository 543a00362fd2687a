"""Conv1D/2D, Conv1D/2DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Numbers, output shapes, weight names and configs come from tf.keras via
tests/fixtures/conv/conv.{json,npz} (tests/reference/make_conv_fixtures.py).
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conv"
META = json.loads((FIXTURES / "conv.json").read_text())["cases"]
ARRAYS = np.load(FIXTURES / "conv.npz")


def _model_for(layer_cls, config_or_kwargs, case, name, from_config=False):
    layer = layer_cls.from_config(config_or_kwargs) if from_config else layer_cls(**config_or_kwargs)
    inp = gk.Input(tuple(case["input_shape"]))
    out = layer(inp)
    model = gk.Model(inp, out)
    layer.set_weights([ARRAYS[f"{name}/w{i}"] for i in range(len(case["weight_names"]))])
    return layer, model, out


def _eager(model, x):
    model.run_eagerly = True
    try:
        return model.predict(x, verbose=0)
    finally:
        model.run_eagerly = False


def _json(config):
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("name", sorted(META))
def test_matches_tf_keras(name):
    case = META[name]
    cls = getattr(L, case["layer"])
    layer, model, out = _model_for(cls, case["kwargs"], case, name)
    x, y_ref = ARRAYS[f"{name}/x"], ARRAYS[f"{name}/y"]

    assert list(out.shape) == [None] + case["output_shape"]
    assert [w.name for w in layer.weights] == [f"{layer.name}/{n}:0" for n in case["weight_names"]]
    assert [list(w.shape) for w in layer.weights] == case["weight_shapes"]

    compiled = model.predict(x, verbose=0)
    eager = _eager(model, x)
    assert compiled.shape == y_ref.shape
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager, y_ref, rtol=1e-5, atol=1e-5)

    ours, ref = _json(layer.get_config()), dict(case["config"])
    assert ours.pop("name") == layer.name
    ref.pop("name")
    assert ours == ref and list(ours) == list(ref)

    # get_config -> from_config (ours, and tf.keras' own config) gives the same layer
    for config in (layer.get_config(), case["config"]):
        gk.backend.clear_session()
        clone, clone_model, _ = _model_for(cls, config, case, name, from_config=True)
        assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]
        np.testing.assert_allclose(_eager(clone_model, x), eager, rtol=1e-6, atol=1e-7)


def test_default_names_and_aliases():
    assert [L.Conv2D(2, 3).name, L.Conv2D(2, 3).name, L.Conv1D(2, 3).name] == \
        ["conv2d", "conv2d_1", "conv1d"]
    assert L.Conv2DTranspose(2, 3).name == "conv2d_transpose"
    assert L.DepthwiseConv2D(3).name == "depthwise_conv2d"
    assert L.SeparableConv2D(2, 3).name == "separable_conv2d"
    assert L.Convolution2D is L.Conv2D and L.Convolution1D is L.Conv1D
    assert L.Convolution2DTranspose is L.Conv2DTranspose
    assert L.SeparableConvolution2D is L.SeparableConv2D


def test_config_defaults_normalized():
    conv = L.Conv2D(4.0, [3, 2], padding="SAME", data_format="Channels_Last", groups=0)
    config = conv.get_config()
    assert config["filters"] == 4 and config["kernel_size"] == (3, 2)
    assert config["strides"] == (1, 1) and config["dilation_rate"] == (1, 1)
    assert config["padding"] == "same" and config["data_format"] == "channels_last"
    assert config["groups"] == 1 and config["activation"] == "linear"
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert L.Conv1D(2, 3).get_config()["kernel_size"] == (3,)
    assert L.Conv2DTranspose(2, 3, strides=2, output_padding=1).get_config()["output_padding"] == (1, 1)
    assert "filters" not in L.DepthwiseConv2D(3).get_config()
    assert L.DepthwiseConv2D(3, depth_multiplier=3).get_config()["depth_multiplier"] == 3


ERRORS = [
    (lambda: L.Conv2D(4, 3, padding="bogus"),
     'The `padding` argument must be a list/tuple or one of "valid", "same" (or "causal", only '
     'for `Conv1D). Received: bogus'),
    (lambda: L.Conv2D(4, 3, strides=0), "The argument `strides` cannot contains 0(s). Received: (0, 0)"),
    (lambda: L.Conv2D(4, 3, strides=-1),
     "The `strides` argument must be a tuple of 2 integers. Received: -1 including {-1} that does "
     "not satisfy the requirement `>= 0`."),
    (lambda: L.Conv2D(4, 0),
     "The `kernel_size` argument must be a tuple of 2 integers. Received: 0 including {0} that "
     "does not satisfy the requirement `> 0`."),
    (lambda: L.Conv2D(4, (3, 3, 3)),
     "The `kernel_size` argument must be a tuple of 2 integers. Received: (3, 3, 3)"),
    (lambda: L.Conv2D(4, (3, "a")),
     "The `kernel_size` argument must be a tuple of 2 integers. Received: (3, 'a')including "
     "element a of type <class 'str'>"),
    (lambda: L.Conv2D(0, 3),
     "Invalid value for argument `filters`. Expected a strictly positive value. Received filters=0."),
    (lambda: L.Conv2D(4, 3, dilation_rate=0),
     "The `dilation_rate` argument must be a tuple of 2 integers. Received: 0 including {0}"),
    (lambda: L.Conv2D(4, 3, groups=3),
     "The number of filters must be evenly divisible by the number of groups. Received: groups=3, "
     "filters=4"),
    (lambda: L.Conv2D(4, 3, padding="causal"),
     "Causal padding is only supported for `Conv1D`and `SeparableConv1D`."),
    (lambda: L.DepthwiseConv1D(3, padding="causal"),
     "Causal padding is only supported for `Conv1D`and `SeparableConv1D`."),
    (lambda: L.Conv1DTranspose(4, 3, padding="causal"),
     "Causal padding is only supported for `Conv1D`and `SeparableConv1D`."),
    (lambda: L.Conv2D(4, 3, strides=2, dilation_rate=2),
     "`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
     "strides=(2, 2) and dilation_rate=(2, 2)"),
    (lambda: L.SeparableConv2D(4, 3, strides=(2, 1), dilation_rate=(1, 2)),
     "`strides > 1` not supported in conjunction with `dilation_rate > 1`."),
    (lambda: L.Conv2D(4, 3, data_format="bogus"),
     'The `data_format` argument must be one of "channels_first", "channels_last". Received: bogus'),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=2),
     "Strides must be greater than output padding. Received strides=(2, 2), output_padding=(2, 2)."),
    (lambda: L.Conv2DTranspose(4, 3, output_padding=1),
     "Strides must be greater than output padding. Received strides=(1, 1), output_padding=(1, 1)."),
    (lambda: L.Conv2DTranspose(4, 3, strides=3, output_padding=-1),
     "The `output_padding` argument must be a tuple of 2 integers. Received: -1 including {-1}"),
    (lambda: L.DepthwiseConv2D(3, padding="bogus"), "The `padding` argument must be"),
    (lambda: L.SeparableConv1D(4, 3, strides=0), "The argument `strides` cannot contains 0(s)."),
    # errors found when the layer meets its input
    (lambda: L.Conv2D(4, 3)(gk.Input((5, 3))),
     'Input 0 of layer "conv2d" is incompatible with the layer: expected min_ndim=4, found '
     "ndim=3. Full shape received: (None, 5, 3)"),
    (lambda: L.Conv2D(4, 3)(gk.Input((5, 5, None))),
     "The channel dimension of the inputs should be defined. The input_shape received is "
     "(None, 5, 5, None), where axis -1 (0-based) is the channel dimension, which found to be "
     "`None`."),
    (lambda: L.Conv2D(4, 3, data_format="channels_first")(gk.Input((None, 5, 5))),
     "where axis -3 (0-based) is the channel dimension"),
    (lambda: L.Conv2D(4, 3, groups=2)(gk.Input((5, 5, 3))),
     "The number of input channels must be evenly divisible by the number of groups. Received "
     "groups=2, but the input has 3 channels (full input shape is (None, 5, 5, 3))."),
    (lambda: L.Conv2D(4, 3)(gk.Input((2, 2, 3))),
     "One of the dimensions in the output is <= 0 due to downsampling in conv2d."),
    (lambda: L.Conv2DTranspose(4, 3)(gk.Input((2, 5, 5, 3))),
     "Inputs should have rank 4. Received input_shape=(None, 2, 5, 5, 3)."),
    (lambda: L.Conv1DTranspose(4, 3)(gk.Input((5, None))),
     "The channel dimension of the inputs to `Conv1DTranspose` should be defined."),
    (lambda: L.DepthwiseConv2D(3)(gk.Input((2, 5, 5, 3))),
     "Inputs to `DepthwiseConv` should have rank 4. Received input_shape=(None, 2, 5, 5, 3)."),
    (lambda: L.DepthwiseConv1D(3)(gk.Input((5, None))),
     "The channel dimension of the inputs to `DepthwiseConv` should be defined."),
    (lambda: L.SeparableConv2D(4, 3)(gk.Input((5, 5, None))),
     "The channel dimension of the inputs should be defined."),
    (lambda: L.Conv2D(4, 3, padding=((1, 1), (1, 1))), "for explicit padding put a ZeroPadding"),
]


@pytest.mark.parametrize("make,message", ERRORS)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_built_layer_checks_channels():
    inp = gk.Input((5, 5, 3))
    conv = L.Conv2D(2, 3)
    conv(inp)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        conv(gk.Input((5, 5, 4)))


def test_known_values_with_constant_weights():
    x = np.arange(2 * 5 * 5 * 2, dtype=np.float32).reshape(2, 5, 5, 2)
    conv = L.Conv2D(3, 3, kernel_initializer="ones", bias_initializer="ones")
    y = conv(x)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)).sum(axis=(3, 4, 5))
    np.testing.assert_allclose(y, np.repeat(windows[..., None], 3, axis=-1) + 1, rtol=1e-6)
    depthwise = L.DepthwiseConv2D(3, depth_multiplier=2, depthwise_initializer="ones",
                                  use_bias=False)
    y = depthwise(x)
    per_channel = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)).sum(axis=(4, 5))
    np.testing.assert_allclose(y, np.repeat(per_channel, 2, axis=-1), rtol=1e-6)
    assert [w.name for w in depthwise.weights] == ["depthwise_conv2d/depthwise_kernel:0"]


def test_regularizers_add_losses():
    conv = L.Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer=gk.regularizers.l1(0.1))
    conv(np.ones((1, 4, 4, 1), np.float32))
    assert len(conv.losses) == 2
    sep = L.SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1")
    sep(np.ones((1, 4, 4, 1), np.float32))
    assert len(sep.losses) == 2
    dw = L.DepthwiseConv2D(3, depthwise_regularizer="l2")
    dw(np.ones((1, 4, 4, 1), np.float32))
    np.testing.assert_allclose(float(np.asarray(dw.losses[0])),
                               0.01 * float(np.sum(np.square(dw.get_weights()[0]))), rtol=1e-5)


def test_unknown_spatial_sizes_compile():
    inp = gk.Input((None, None, 3))
    y = L.SeparableConv2D(4, 3, padding="same")(L.Conv2D(4, 3, strides=2, padding="same")(inp))
    model = gk.Model(inp, y)
    assert tuple(y.shape) == (None, None, None, 4)
    for shape in [(2, 7, 6, 3), (1, 9, 4, 3)]:
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), _eager(model, x), rtol=1e-5,
                                   atol=1e-6)


def test_conv_transpose_unknown_spatial_sizes():
    inp = gk.Input((None, None, 2))
    out = L.Conv2DTranspose(3, 3, strides=2)(inp)
    model = gk.Model(inp, out)
    assert tuple(out.shape) == (None, None, None, 3)
    x = np.ones((1, 4, 5, 2), np.float32)
    assert _eager(model, x).shape == (1, 9, 11, 3)
    with pytest.raises(ValueError, match="needs known spatial input sizes"):
        model.predict(x, verbose=0)


def test_extra_batch_dims_and_compute_output_shape():
    conv = L.Conv2D(4, 3, strides=2, padding="same")
    assert tuple(conv.compute_output_shape((None, 7, 8, 3))) == (None, 4, 4, 4)
    assert tuple(L.Conv2DTranspose(2, 3, strides=2).compute_output_shape((None, 4, 5, 3))) == \
        (None, 9, 11, 2)
    assert tuple(L.Conv1D(2, 3, padding="causal", dilation_rate=2)
                 .compute_output_shape((None, 7, 3))) == (None, 7, 2)
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6, 2)).astype(np.float32)
    conv = L.Conv2D(4, 3)
    y = conv(x)
    assert y.shape == (2, 3, 4, 4, 4)
    np.testing.assert_allclose(y[:, 1], conv(x[:, 1]), rtol=1e-6)


def test_model_json_round_trip():
    inp = gk.Input((9, 9, 3))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = L.DepthwiseConv2D(3, depth_multiplier=2, data_format="channels_last")(h)
    h = L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2)(h)
    h = L.Conv2DTranspose(2, 3, strides=2, output_padding=1)(h)
    model = gk.Model(inp, h)
    x = np.random.default_rng(2).normal(size=(2, 9, 9, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    gk.backend.clear_session()
    clone = gk.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert [w.name for w in clone.weights] == [w.name for w in model.weights]
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_eager(clone, x), expected, rtol=1e-5, atol=1e-5)
