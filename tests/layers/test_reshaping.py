"""ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

Numbers, output shapes and configs come from tf.keras via
tests/fixtures/conv/reshaping.{json,npz} (tests/reference/make_conv_fixtures.py).
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conv"
META = json.loads((FIXTURES / "reshaping.json").read_text())["cases"]
ARRAYS = np.load(FIXTURES / "reshaping.npz")


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


@pytest.mark.parametrize("name", sorted(META))
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


def test_known_values():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    np.testing.assert_array_equal(L.UpSampling2D((1, 2))(x)[0, ..., 0],
                                  [[0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5]])
    np.testing.assert_array_equal(L.UpSampling1D(2)(x[..., 0])[0], [[0, 1, 2]] * 2 + [[3, 4, 5]] * 2)
    np.testing.assert_array_equal(L.Cropping2D(((1, 0), (1, 1)))(x)[0, ..., 0], [[4]])
    y = L.ZeroPadding2D(((0, 1), (2, 0)))(x)[0, ..., 0]
    np.testing.assert_array_equal(y, [[0, 0, 0, 1, 2], [0, 0, 3, 4, 5], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(L.ZeroPadding1D((1, 0))(x[..., 0])[0], [[0, 0, 0], [0, 1, 2],
                                                                           [3, 4, 5]])
    # bilinear with half-pixel centres: edge values are kept, midpoints interpolate
    y = L.UpSampling2D((1, 2), interpolation="bilinear")(x)[0, 0, :, 0]
    np.testing.assert_allclose(y, [0, 0.25, 0.75, 1.25, 1.75, 2], rtol=1e-6)


def test_config_normalization():
    assert [L.ZeroPadding2D().name, L.UpSampling2D().name, L.Cropping1D().name] == \
        ["zero_padding2d", "up_sampling2d", "cropping1d"]
    assert L.ZeroPadding2D(2).get_config()["padding"] == ((2, 2), (2, 2))
    assert L.ZeroPadding2D((1, 2)).get_config()["padding"] == ((1, 1), (2, 2))
    assert L.ZeroPadding2D(((1, 2), 3)).get_config()["padding"] == ((1, 2), (3, 3))
    assert L.ZeroPadding1D(2).get_config()["padding"] == (2, 2)
    assert L.Cropping2D(2).get_config()["cropping"] == ((2, 2), (2, 2))
    assert L.Cropping1D(2).get_config()["cropping"] == (2, 2)
    assert L.UpSampling1D(3).get_config()["size"] == 3
    assert L.UpSampling2D(3).get_config()["size"] == (3, 3)
    assert L.UpSampling2D(interpolation="BILINEAR").get_config()["interpolation"] == "bilinear"


def test_unknown_sizes():
    inp = gk.Input((None, None, 3))
    out = L.Cropping2D(((1, 0), (0, 2)))(L.ZeroPadding2D(1)(inp))
    model = gk.Model(inp, out)
    assert tuple(out.shape) == (None, None, None, 3)
    rng = np.random.default_rng(0)
    for shape in [(2, 4, 5, 3), (1, 6, 3, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        y = model.predict(x, verbose=0)
        assert y.shape == (shape[0], shape[1] + 1, shape[2], 3)
        np.testing.assert_array_equal(y, _eager(model, x))
    # nearest upsampling: one unknown non-batch size compiles
    inp = gk.Input((None, 4, 2))
    out = L.UpSampling2D((2, 3))(inp)
    model = gk.Model(inp, out)
    assert tuple(out.shape) == (None, None, 12, 2)
    x = rng.normal(size=(2, 5, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.repeat(2, 1).repeat(3, 2))
    with pytest.raises(ValueError, match="needs at most one unknown non-batch dimension"):
        L.UpSampling2D()(gk.Input((None, None, 3)))
    with pytest.raises(ValueError, match="needs known spatial sizes"):
        L.UpSampling2D(interpolation="bilinear")(gk.Input((None, 4, 3)))


ERRORS = [
    (lambda: L.ZeroPadding2D(padding=(1, 2, 3)), "`padding` should have two elements. Received: "
     "(1, 2, 3)."),
    (lambda: L.ZeroPadding2D(padding="x"), "`padding` should have two elements. Received: x."),
    (lambda: L.ZeroPadding2D(padding=((1, 2), (3,))),
     "The `2nd entry of padding` argument must be a tuple of 2 integers. Received: (3,)"),
    (lambda: L.ZeroPadding2D(padding=(-1, 1)), "The `1st entry of padding` argument must be a "
     "tuple of 2 integers. Received: -1 including {-1} that does not satisfy the requirement "
     "`>= 0`."),
    (lambda: L.ZeroPadding2D(padding=None), "`padding` should be either an int, a tuple of 2 ints "
     "(symmetric_height_pad, symmetric_width_pad), or a tuple of 2 tuples of 2 ints ((top_pad, "
     "bottom_pad), (left_pad, right_pad)). Received: None."),
    (lambda: L.ZeroPadding2D(data_format="x"), 'The `data_format` argument must be one of '
     '"channels_first", "channels_last". Received: x'),
    (lambda: L.ZeroPadding1D(padding=(1, 2, 3)),
     "The `padding` argument must be a tuple of 2 integers. Received: (1, 2, 3)"),
    (lambda: L.ZeroPadding1D(padding=-1), "The `padding` argument must be a tuple of 2 integers. "
     "Received: -1 including {-1} that does not satisfy the requirement `>= 0`."),
    (lambda: L.Cropping2D(cropping=(1, 2, 3)), "`cropping` should have two elements. Received: "
     "(1, 2, 3)."),
    (lambda: L.Cropping2D(cropping=((1, 1), (-1, 1))), "The `2nd entry of cropping` argument must "
     "be a tuple of 2 integers. Received: (-1, 1) including {-1}"),
    (lambda: L.Cropping1D(cropping=(1, 2, 3)),
     "The `cropping` argument must be a tuple of 2 integers. Received: (1, 2, 3)"),
    (lambda: L.Cropping2D(3)(gk.Input((5, 5, 3))), "Argument `cropping` must be greater than the "
     "input shape. Received: inputs.shape=(None, 5, 5, 3), and cropping=((3, 3), (3, 3))"),
    (lambda: L.Cropping1D((2, 3))(gk.Input((5, 3))), "cropping parameter of Cropping layer must "
     "be greater than the input shape. Received: inputs.shape=(None, 5, 3), and cropping=(2, 3)"),
    (lambda: L.UpSampling2D(size=0), "The `size` argument must be a tuple of 2 integers. "
     "Received: 0 including {0} that does not satisfy the requirement `> 0`."),
    (lambda: L.UpSampling2D(size=(1, 2, 3)),
     "The `size` argument must be a tuple of 2 integers. Received: (1, 2, 3)"),
    (lambda: L.UpSampling1D(size=0), "The `size` argument must be a positive integer."),
    (lambda: L.UpSampling1D()(gk.Input((5, 3, 3))), 'Input 0 of layer "up_sampling1d" is '
     "incompatible with the layer: expected ndim=3, found ndim=4. Full shape received: "
     "(None, 5, 3, 3)"),
    (lambda: L.ZeroPadding2D()(gk.Input((5, 3))), "expected ndim=4, found ndim=3."),
]


@pytest.mark.parametrize("make,message", ERRORS)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_unknown_interpolation_raises_not_implemented():
    with pytest.raises(NotImplementedError, match=re.escape(
            "Value not recognized for `interpolation`: bogus. Supported values are: "
            "dict_keys(['bilinear', 'nearest', 'bicubic'")):
        L.UpSampling2D(interpolation="bogus")
    with pytest.raises(ValueError, match="use 'nearest' or 'bilinear'"):
        L.UpSampling2D(interpolation="bicubic")
