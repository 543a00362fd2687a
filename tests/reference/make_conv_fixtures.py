"""Reference numbers from real tf.keras 2.x for the convolution, pooling and
spatial reshaping layers (tests/layers/test_convolutional.py, test_pooling.py,
test_reshaping.py).

For every case: a model ``Input(shape) -> Layer(**kwargs)``, every weight set to
seeded random values, and a seeded random input. Writes, per group (``conv``,
``pooling``, ``reshaping``), into ``tests/fixtures/conv/``:

``<group>.npz``   ``<case>/x``, ``<case>/w0`` ... (``layer.get_weights()`` order),
                  ``<case>/y`` (``model.predict(x)``), ``<case>/mask`` where given;
``<group>.json``  ``{case: {"layer", "kwargs", "input_shape", "output_shape",
                  "weight_names", "weight_shapes", "config"}}`` where ``config`` is
                  the layer's ``get_config()`` through JSON (key order kept) and
                  weight names are relative to the layer (``kernel``, ``bias`` ...).

Cases with ``data_format="channels_first"`` are computed with the channels-last
layer on transposed data (TensorFlow's CPU kernels lack NCHW convolutions and
pooling); their configs come from the channels-first layer itself.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_conv_fixtures.py
"""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")
OUT = Path(__file__).resolve().parents[1] / "fixtures" / "conv"
BATCH = 2

CF = {"data_format": "channels_first"}

GROUPS = {
    "conv": [
        ("conv1d_valid", "Conv1D", dict(filters=3, kernel_size=3), (7, 2)),
        ("conv1d_same_s2", "Conv1D", dict(filters=3, kernel_size=3, strides=2, padding="same"), (8, 2)),
        ("conv1d_causal_d2_relu", "Conv1D", dict(filters=3, kernel_size=3, padding="causal",
                                                 dilation_rate=2, activation="relu"), (8, 2)),
        ("conv1d_groups", "Conv1D", dict(filters=4, kernel_size=2, groups=2), (6, 4)),
        ("conv1d_cf", "Conv1D", dict(filters=3, kernel_size=3, padding="same", **CF), (2, 7)),
        ("conv2d_valid", "Conv2D", dict(filters=4, kernel_size=3), (6, 5, 3)),
        ("conv2d_same_rect_s21", "Conv2D", dict(filters=4, kernel_size=(3, 2), strides=(2, 1),
                                                padding="same"), (7, 6, 3)),
        ("conv2d_same_d2", "Conv2D", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"),
         (7, 7, 2)),
        ("conv2d_groups3_tanh", "Conv2D", dict(filters=6, kernel_size=3, groups=3,
                                               activation="tanh"), (5, 5, 3)),
        ("conv2d_nobias_s2", "Conv2D", dict(filters=2, kernel_size=2, strides=2, use_bias=False),
         (6, 7, 3)),
        ("conv2d_cf", "Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same", **CF),
         (3, 6, 5)),
        ("conv2d_extra_batch", "Conv2D", dict(filters=4, kernel_size=3), (2, 5, 5, 3)),
        ("conv1dt_same_s2", "Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2,
                                                    padding="same"), (5, 2)),
        ("conv1dt_valid_op1", "Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2,
                                                      output_padding=1), (5, 2)),
        ("conv2dt_valid", "Conv2DTranspose", dict(filters=4, kernel_size=3), (4, 5, 3)),
        ("conv2dt_valid_rect_s23", "Conv2DTranspose", dict(filters=4, kernel_size=(3, 2),
                                                           strides=(2, 3)), (4, 5, 3)),
        ("conv2dt_same_k4_s2", "Conv2DTranspose", dict(filters=3, kernel_size=4, strides=2,
                                                       padding="same"), (4, 5, 2)),
        ("conv2dt_same_k3_s2_op", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2,
                                                          padding="same", output_padding=(1, 0)),
         (4, 5, 2)),
        ("conv2dt_valid_s3_op", "Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3,
                                                        output_padding=(2, 1)), (3, 4, 2)),
        ("conv2dt_valid_k2_s3", "Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3),
         (3, 4, 2)),
        ("conv2dt_same_d2", "Conv2DTranspose", dict(filters=3, kernel_size=3, dilation_rate=2,
                                                    padding="same"), (5, 4, 2)),
        ("conv2dt_valid_d2", "Conv2DTranspose", dict(filters=3, kernel_size=3, dilation_rate=2),
         (5, 4, 2)),
        ("conv2dt_cf_relu", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2,
                                                    padding="same", activation="relu", **CF),
         (2, 4, 5)),
        ("depthwise1d_m2", "DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2), (7, 3)),
        ("depthwise2d_valid", "DepthwiseConv2D", dict(kernel_size=3), (6, 6, 3)),
        ("depthwise2d_same_s2_m2", "DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same",
                                                           depth_multiplier=2), (7, 6, 3)),
        ("depthwise2d_d2_nobias", "DepthwiseConv2D", dict(kernel_size=(3, 2), dilation_rate=2,
                                                          use_bias=False), (7, 6, 2)),
        ("depthwise2d_cf", "DepthwiseConv2D", dict(kernel_size=3, padding="same", **CF), (3, 5, 4)),
        ("separable1d_causal", "SeparableConv1D", dict(filters=4, kernel_size=3, padding="causal"),
         (7, 3)),
        ("separable1d_same_s2_m2", "SeparableConv1D", dict(filters=4, kernel_size=3, strides=2,
                                                           padding="same", depth_multiplier=2),
         (8, 3)),
        ("separable2d_valid", "SeparableConv2D", dict(filters=4, kernel_size=3), (6, 6, 3)),
        ("separable2d_same_s2_m2", "SeparableConv2D", dict(filters=5, kernel_size=3, strides=2,
                                                           padding="same", depth_multiplier=2),
         (7, 6, 3)),
        ("separable2d_d2_relu", "SeparableConv2D", dict(filters=3, kernel_size=3, dilation_rate=2,
                                                        activation="relu"), (7, 7, 2)),
        ("separable2d_cf", "SeparableConv2D", dict(filters=4, kernel_size=3, padding="same", **CF),
         (3, 5, 4)),
    ],
    "pooling": [
        ("max1d_default", "MaxPooling1D", dict(), (7, 3)),
        ("max1d_p3_s2_same", "MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (8, 3)),
        ("avg1d_p3_s2_same", "AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (8, 3)),
        ("avg1d_cf", "AveragePooling1D", dict(pool_size=2, strides=1, **CF), (3, 6)),
        ("max2d_default", "MaxPooling2D", dict(), (7, 6, 3)),
        ("max2d_p3_s2_same", "MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (7, 6, 3)),
        ("avg2d_p3_s2_same", "AveragePooling2D", dict(pool_size=3, strides=2, padding="same"),
         (7, 6, 3)),
        ("avg2d_p23_s1", "AveragePooling2D", dict(pool_size=(2, 3), strides=1), (5, 6, 2)),
        ("max2d_cf_same", "MaxPooling2D", dict(pool_size=2, padding="same", **CF), (3, 5, 5)),
        ("avg2d_cf", "AveragePooling2D", dict(pool_size=(2, 2), strides=(1, 2), **CF), (3, 5, 6)),
        ("gap1d", "GlobalAveragePooling1D", dict(), (5, 3)),
        ("gap1d_cf_keepdims", "GlobalAveragePooling1D", dict(keepdims=True, **CF), (3, 5)),
        ("gmp1d", "GlobalMaxPooling1D", dict(), (5, 3)),
        ("gmp1d_keepdims", "GlobalMaxPooling1D", dict(keepdims=True), (5, 3)),
        ("gap2d", "GlobalAveragePooling2D", dict(), (4, 5, 3)),
        ("gap2d_cf_keepdims", "GlobalAveragePooling2D", dict(keepdims=True, **CF), (3, 4, 5)),
        ("gmp2d", "GlobalMaxPooling2D", dict(), (4, 5, 3)),
        ("gmp2d_cf", "GlobalMaxPooling2D", dict(**CF), (3, 4, 5)),
    ],
    "reshaping": [
        ("zp1d_int", "ZeroPadding1D", dict(padding=2), (5, 3)),
        ("zp1d_asym", "ZeroPadding1D", dict(padding=(1, 3)), (5, 3)),
        ("zp2d_default", "ZeroPadding2D", dict(), (3, 4, 2)),
        ("zp2d_asym", "ZeroPadding2D", dict(padding=((1, 2), (3, 0))), (3, 4, 2)),
        ("zp2d_cf", "ZeroPadding2D", dict(padding=(1, 2), **CF), (2, 3, 4)),
        ("crop1d", "Cropping1D", dict(cropping=(1, 2)), (6, 3)),
        ("crop2d_asym", "Cropping2D", dict(cropping=((1, 2), (0, 1))), (6, 5, 2)),
        ("crop2d_cf", "Cropping2D", dict(cropping=1, **CF), (2, 5, 6)),
        ("up1d_3", "UpSampling1D", dict(size=3), (4, 2)),
        ("up2d_nearest_23", "UpSampling2D", dict(size=(2, 3)), (3, 4, 2)),
        ("up2d_bilinear_22", "UpSampling2D", dict(interpolation="bilinear"), (3, 4, 2)),
        ("up2d_bilinear_32", "UpSampling2D", dict(size=(3, 2), interpolation="bilinear"), (3, 4, 2)),
        ("up2d_cf_nearest", "UpSampling2D", dict(size=(2, 1), **CF), (2, 3, 4)),
        ("up2d_cf_bilinear", "UpSampling2D", dict(size=(2, 3), interpolation="bilinear", **CF),
         (2, 3, 4)),
    ],
}


def _to_last(a):
    return np.moveaxis(a, 1, -1)


def _to_first(a):
    return np.moveaxis(a, -1, 1)


def run_case(rng, name, cls_name, kwargs, shape):
    cls = getattr(keras.layers, cls_name)
    keras.backend.clear_session()
    layer = cls(**kwargs)
    inp = keras.Input(shape)
    out = layer(inp)
    model = keras.Model(inp, out)
    x = rng.normal(size=(BATCH,) + tuple(shape)).astype(np.float32)
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    if kwargs.get("data_format") == "channels_first":
        # reference through the channels-last layer on transposed data
        last = cls(**{**kwargs, "data_format": "channels_last"})
        inp_l = keras.Input(_to_last(np.zeros((1,) + tuple(shape))).shape[1:])
        model_l = keras.Model(inp_l, last(inp_l))
        last.set_weights(weights)
        y = model_l.predict(_to_last(x), verbose=0)
        y = _to_first(y) if y.ndim > 2 else y
    else:
        y = model.predict(x, verbose=0)
    assert tuple(y.shape[1:]) == tuple(out.shape[1:]), (name, y.shape, out.shape)
    prefix = layer.name + "/"
    entry = {
        "layer": cls_name, "kwargs": kwargs, "input_shape": list(shape),
        "output_shape": list(out.shape[1:]),
        "weight_names": [w.name[len(prefix):].split(":")[0] for w in layer.weights],
        "weight_shapes": [list(w.shape) for w in layer.weights],
        "config": json.loads(json.dumps(layer.get_config())),
    }
    arrays = {f"{name}/x": x, f"{name}/y": y.astype(np.float32)}
    for i, w in enumerate(weights):
        arrays[f"{name}/w{i}"] = w
    return entry, arrays


def masked_gap1d(rng):
    """GlobalAveragePooling1D called with a mask (eager layer call)."""
    keras.backend.clear_session()
    layer = keras.layers.GlobalAveragePooling1D()
    x = rng.normal(size=(3, 5, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=bool)
    y = layer(x, mask=mask).numpy()
    entry = {"layer": "GlobalAveragePooling1D", "kwargs": {}, "input_shape": [5, 2],
             "output_shape": [2], "weight_names": [], "weight_shapes": [],
             "config": json.loads(json.dumps(layer.get_config())), "masked": True}
    return entry, {"gap1d_masked/x": x, "gap1d_masked/y": y, "gap1d_masked/mask": mask}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for group, cases in GROUPS.items():
        rng = np.random.default_rng(1234)
        table, arrays = {}, {}
        for name, cls_name, kwargs, shape in cases:
            entry, arr = run_case(rng, name, cls_name, kwargs, shape)
            table[name] = entry
            arrays.update(arr)
        if group == "pooling":
            entry, arr = masked_gap1d(rng)
            table["gap1d_masked"] = entry
            arrays.update(arr)
        np.savez_compressed(OUT / f"{group}.npz", **arrays)
        meta = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__,
                "cases": table}
        (OUT / f"{group}.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"{group}: {len(table)} cases")


if __name__ == "__main__":
    main()
