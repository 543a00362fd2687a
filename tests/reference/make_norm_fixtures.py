"""Generate reference fixtures for graphkeras' normalization layers from real tf.keras 2.x.

Complements ``make_layer_fixtures.py`` (inference only) with what it cannot
show: BatchNormalization in training mode (batch statistics, the moving-average
updates, including the fused path's unbiased moving variance) and the less
common ``axis`` settings of both normalization layers.

Each case writes into ``tests/fixtures/norm/``:

``<case>.npz``
    ``x0, x1``        two input batches (float32),
    ``w0, w1, ...``   the layer's weights before the first call (seeded random),
    ``train0, train1``  outputs of ``layer(x0, training=True)`` then ``layer(x1, training=True)``
                      (BatchNormalization only),
    ``after0, ...``   the layer's weights after those two calls (BatchNormalization only),
    ``infer0, infer1``  outputs of ``layer(x, training=False)`` at the end.

``<case>.json``
    ``{"case", "class_name", "config", "input_shape", "weight_names", "weight_shapes",
    "init_kwargs", "frozen", "keras_version"}``; ``config`` is the layer config as
    ``model.to_json()`` writes it, ``weight_names`` are the names without the layer
    prefix, ``init_kwargs`` are constructor arguments the config does not record
    (``fused``) and ``frozen`` says the layer was set ``trainable = False`` before the calls.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_norm_fixtures.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

L = keras.layers
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "norm"
BATCH = 4

# (case, layer factory, input shape without batch, trainable)
CASES = [
    ("bn_2d", lambda: L.BatchNormalization(momentum=0.8), (5,), True),
    ("bn_3d", lambda: L.BatchNormalization(momentum=0.9), (3, 4), True),
    ("bn_4d_last_fused", lambda: L.BatchNormalization(momentum=0.7), (3, 3, 4), True),
    ("bn_4d_axis1_fused", lambda: L.BatchNormalization(axis=1, momentum=0.7), (4, 3, 2), True),
    ("bn_4d_axis2", lambda: L.BatchNormalization(axis=2, momentum=0.7), (2, 4, 3), True),
    ("bn_5d_last_fused", lambda: L.BatchNormalization(momentum=0.6), (2, 2, 2, 3), True),
    ("bn_4d_not_fused", lambda: L.BatchNormalization(momentum=0.7, fused=False), (3, 3, 4),
     True),  # `fused` is not in the config: the JSON records it under "init_kwargs"
    ("bn_multi_axis_12", lambda: L.BatchNormalization(axis=[1, 2], momentum=0.5), (3, 4), True),
    ("bn_multi_axis_13", lambda: L.BatchNormalization(axis=[1, 3], momentum=0.5), (3, 2, 4),
     True),
    ("bn_no_center_no_scale",
     lambda: L.BatchNormalization(center=False, scale=False, epsilon=0.01), (6,), True),
    ("bn_no_scale_4d", lambda: L.BatchNormalization(scale=False, axis=-1), (2, 2, 3), True),
    ("bn_frozen", lambda: L.BatchNormalization(momentum=0.5), (5,), False),
    ("ln_last", lambda: L.LayerNormalization(), (3, 6), True),
    ("ln_axis1_3d", lambda: L.LayerNormalization(axis=1), (3, 4), True),
    ("ln_axis_21", lambda: L.LayerNormalization(axis=[2, 1]), (3, 4), True),
    ("ln_axis_13_4d", lambda: L.LayerNormalization(axis=[1, 3], epsilon=1e-5), (3, 2, 4),
     True),
    ("ln_axis_123_4d", lambda: L.LayerNormalization(axis=[1, 2, 3]), (2, 3, 2), True),
    ("ln_no_center", lambda: L.LayerNormalization(center=False, epsilon=1e-6), (5,), True),
]


def make_case(name, factory, shape, trainable, rng):
    keras.backend.clear_session()
    layer = factory()
    model = keras.Sequential([keras.Input(shape=shape), layer])
    config = json.loads(model.to_json())["config"]["layers"][1]
    weights = []
    for w in layer.weights:
        base = w.name.split("/")[-1].split(":")[0]
        if base in ("moving_variance", "gamma"):
            weights.append(rng.uniform(0.5, 1.5, size=w.shape).astype("float32"))
        else:
            weights.append(rng.normal(0.0, 0.5, size=w.shape).astype("float32"))
    layer.set_weights(weights)
    layer.trainable = trainable
    x0 = (rng.normal(size=(BATCH,) + shape) * 2.0 + 0.5).astype("float32")
    x1 = (rng.normal(size=(BATCH,) + shape) * 0.7 - 1.0).astype("float32")
    arrays = {"x0": x0, "x1": x1}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    if isinstance(layer, L.BatchNormalization):
        arrays["train0"] = layer(x0, training=True).numpy()
        arrays["train1"] = layer(x1, training=True).numpy()
        arrays.update({f"after{i}": w for i, w in enumerate(layer.get_weights())})
    arrays["infer0"] = layer(x0, training=False).numpy()
    arrays["infer1"] = layer(x1, training=False).numpy()
    np.savez(OUT_DIR / f"{name}.npz", **arrays)
    meta = {"case": name, "class_name": type(layer).__name__, "config": config["config"],
            "input_shape": [None, *shape],
            "weight_names": [w.name.split("/")[-1].split(":")[0] for w in layer.weights],
            "weight_shapes": [list(w.shape) for w in layer.weights],
            "init_kwargs": {"fused": layer.fused} if "not_fused" in name else {},
            "frozen": not trainable,
            "keras_version": keras.__version__}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")):
        old.unlink()
    rng = np.random.default_rng(1234)
    for case in CASES:
        make_case(*case, rng)
        print("wrote", case[0])


if __name__ == "__main__":
    main()
