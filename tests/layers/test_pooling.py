"""MaxPooling1D/2D, AveragePooling1D/2D, GlobalAverage/MaxPooling1D/2D and aliases.

Numbers, output shapes and configs come from tf.keras via
tests/fixtures/conv/pooling.{json,npz} (tests/reference/make_conv_fixtures.py).
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conv"
META = json.loads((FIXTURES / "pooling.json").read_text())["cases"]
ARRAYS = np.load(FIXTURES / "pooling.npz")
MODEL_CASES = sorted(name for name, case in META.items() if not case.get("masked"))


def _model(layer, input_shape):
    inp = gk.Input(tuple(input_shape))
    out = layer(inp)
    return gk.Model(inp, out), out


def _eager(model, x):
    model.run_eagerly = True
    try:
        return model.predict(x, verbose=0)
    finally:
        model.run_eagerly = False


@pytest.mark.parametrize("name", MODEL_CASES)
def test_matches_tf_keras(name):
    case = META[name]
    cls = getattr(L, case["layer"])
    layer = cls(**case["kwargs"])
    model, out = _model(layer, case["input_shape"])
    x, y_ref = ARRAYS[f"{name}/x"], ARRAYS[f"{name}/y"]

    assert list(out.shape) == [None] + case["output_shape"]
    assert layer.weights == [] and case["weight_names"] == []
    compiled = model.predict(x, verbose=0)
    eager = _eager(model, x)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager, y_ref, rtol=1e-5, atol=1e-5)

    ours, ref = json.loads(json.dumps(layer.get_config())), dict(case["config"])
    assert ours.pop("name") == layer.name
    ref.pop("name")
    assert ours == ref and list(ours) == list(ref)

    for config in (layer.get_config(), case["config"]):
        gk.backend.clear_session()
        clone_model, _ = _model(cls.from_config(config), case["input_shape"])
        np.testing.assert_allclose(_eager(clone_model, x), eager, rtol=1e-6, atol=1e-7)


def test_global_average_pooling1d_mask():
    name = "gap1d_masked"
    layer = L.GlobalAveragePooling1D()
    assert layer.supports_masking
    x, mask = ARRAYS[f"{name}/x"], ARRAYS[f"{name}/mask"]
    np.testing.assert_allclose(layer(x, mask=mask), ARRAYS[f"{name}/y"], rtol=1e-6)
    assert layer.compute_mask(x, mask) is None


def test_known_values():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(L.MaxPooling2D()(x)[0, ..., 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(L.AveragePooling2D()(x)[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])
    # 'same' pads one pixel on each side here; averages count only real pixels, as tf does
    y = L.AveragePooling2D(3, strides=3, padding="same")(x)
    np.testing.assert_allclose(y[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])
    y = L.MaxPooling1D(3, strides=3, padding="same")(-x[:, :, 0])
    np.testing.assert_array_equal(y[0, :, 0], [0, -8])
    np.testing.assert_array_equal(L.GlobalMaxPooling2D()(x), [[15]])
    np.testing.assert_array_equal(L.GlobalAveragePooling1D()(x[..., 0]), [[6, 7, 8, 9]])


def test_defaults_and_aliases():
    assert L.MaxPool1D is L.MaxPooling1D and L.MaxPool2D is L.MaxPooling2D
    assert L.AvgPool1D is L.AveragePooling1D and L.AvgPool2D is L.AveragePooling2D
    assert L.GlobalAvgPool1D is L.GlobalAveragePooling1D
    assert L.GlobalAvgPool2D is L.GlobalAveragePooling2D
    assert L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    assert L.GlobalMaxPool2D is L.GlobalMaxPooling2D
    assert [L.MaxPool2D().name, L.MaxPooling2D().name] == ["max_pooling2d", "max_pooling2d_1"]
    assert L.GlobalAvgPool2D().name == "global_average_pooling2d"
    config = L.MaxPooling2D(3, padding="SAME").get_config()
    assert (config["pool_size"], config["strides"], config["padding"]) == ((3, 3), (3, 3), "same")
    assert list(L.MaxPooling1D().get_config())[3:] == ["strides", "pool_size", "padding",
                                                       "data_format"]
    assert L.AveragePooling1D(4, 1).get_config()["strides"] == (1,)
    assert L.GlobalMaxPooling1D().get_config()["keepdims"] is False


def test_unknown_spatial_sizes_compile():
    inp = gk.Input((None, None, 3))
    h = L.AveragePooling2D(3, strides=2, padding="same")(inp)
    h = L.MaxPooling2D()(h)
    out = L.GlobalAveragePooling2D()(h)
    model = gk.Model(inp, out)
    assert tuple(out.shape) == (None, 3)
    rng = np.random.default_rng(0)
    for shape in [(2, 9, 8, 3), (1, 12, 5, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), _eager(model, x), rtol=1e-5,
                                   atol=1e-6)


ERRORS = [
    (lambda: L.MaxPooling2D(padding="bogus"), 'The `padding` argument must be a list/tuple or '
     'one of "valid", "same" (or "causal", only for `Conv1D). Received: bogus'),
    (lambda: L.AveragePooling1D(padding="bogus"), "The `padding` argument must be"),
    (lambda: L.MaxPooling2D(pool_size=0), "The `pool_size` argument must be a tuple of 2 "
     "integers. Received: 0 including {0} that does not satisfy the requirement `> 0`."),
    (lambda: L.MaxPooling1D(pool_size=0), "The `pool_size` argument must be a tuple of 1 integers."),
    (lambda: L.MaxPooling2D(pool_size=(2, 2, 2)),
     "The `pool_size` argument must be a tuple of 2 integers. Received: (2, 2, 2)"),
    (lambda: L.AveragePooling2D(strides=(1, 2, 3)),
     "The `strides` argument must be a tuple of 2 integers. Received: (1, 2, 3)"),
    (lambda: L.MaxPooling2D(strides=-1), "Received: -1 including {-1} that does not satisfy the "
     "requirement `>= 0`."),
    (lambda: L.MaxPooling2D(data_format="bogus"), 'The `data_format` argument must be one of '
     '"channels_first", "channels_last". Received: bogus'),
    (lambda: L.GlobalAveragePooling2D(data_format="bogus"), "The `data_format` argument must be"),
    (lambda: L.MaxPooling2D(strides=0)(gk.Input((5, 5, 3))), "Stride must be > 0, but got 0"),
    (lambda: L.MaxPooling1D(padding="causal")(gk.Input((5, 3))), "Invalid padding: causal"),
    (lambda: L.MaxPooling2D()(gk.Input((5, 3))), 'Input 0 of layer "max_pooling2d" is '
     "incompatible with the layer: expected ndim=4, found ndim=3. Full shape received: (None, 5, 3)"),
    (lambda: L.GlobalMaxPooling1D()(gk.Input((5, 3, 3))), "expected ndim=3, found ndim=4."),
    (lambda: L.MaxPooling2D(3)(gk.Input((2, 2, 3))),
     "One of the dimensions in the output is <= 0 due to downsampling in max_pooling2d."),
]


@pytest.mark.parametrize("make,message", ERRORS)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
