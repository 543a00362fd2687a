"""Generate reference fixtures for graphkeras' merge and activation layers from tf.keras 2.x.

Complements ``make_layer_fixtures.py`` with the cases it does not cover: merges of
inputs of different ranks (tf.keras inserts axes after the batch axis), ``Dot`` on
inputs of rank 3 and mixed ranks, ``ReLU``/``ThresholdedReLU`` exactly at their
thresholds, ``Softmax`` over several axes and with a mask.

Each case writes into ``tests/fixtures/merge_activation/``:

``<case>.npz``
    ``x0, x1, ...`` the inputs (float32, batch of 3), ``mask`` when the case has one,
    ``w0, ...`` the layer's weights (seeded random), ``y0`` the layer's output
    (called eagerly, ``training=False``).

``<case>.json``
    ``{"case", "class_name", "config", "input_shapes", "output_shape", "weight_names",
    "weight_shapes", "keras_version"}``; ``config`` is the layer config as
    ``model.to_json()`` writes it.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_merge_activation_fixtures.py
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
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "merge_activation"
BATCH = 3
# values that hit thresholds exactly (0.5, 1.2) as well as both sides of them
EDGES = np.array([-1.0, -0.5, 0.0, 0.3, 0.5, 0.7, 1.0, 1.2, 2.0, 3.0], dtype="float32")

# (case, layer factory, input shapes without batch, options)
CASES = [
    ("add_rank_broadcast", lambda: L.Add(), [(2, 3, 4), (4,)], {}),
    ("add_size1_broadcast", lambda: L.Add(), [(3, 4), (1, 4)], {}),
    ("average_mixed_rank", lambda: L.Average(), [(2, 3), (3,), (2, 1)], {}),
    ("multiply_mixed_rank", lambda: L.Multiply(), [(3,), (2, 3)], {}),
    ("maximum_three", lambda: L.Maximum(), [(4,), (4,), (4,)], {}),
    ("subtract_broadcast", lambda: L.Subtract(), [(3, 4), (4,)], {}),
    ("concatenate_axis_neg2", lambda: L.Concatenate(axis=-2), [(3, 4), (2, 4)], {}),
    ("concatenate_three", lambda: L.Concatenate(axis=1), [(2, 2), (1, 2), (3, 2)], {}),
    ("dot_rank3_axes1", lambda: L.Dot(axes=1), [(3, 4, 5), (3, 2, 2)], {}),
    ("dot_rank3_axes_2_1", lambda: L.Dot(axes=(2, 1)), [(3, 4), (4, 5)], {}),
    ("dot_neg_axes", lambda: L.Dot(axes=-1), [(3, 4), (5, 4)], {}),
    ("dot_mixed_rank_a", lambda: L.Dot(axes=1), [(3, 4, 2), (3,)], {}),
    ("dot_mixed_rank_b", lambda: L.Dot(axes=1), [(3,), (3, 5)], {}),
    ("dot_normalize_rank3", lambda: L.Dot(axes=(2, 2), normalize=True), [(3, 4), (5, 4)], {}),
    ("relu_all_edges", lambda: L.ReLU(max_value=1.2, negative_slope=0.1, threshold=0.5),
     [(10,)], {"edges": True}),
    ("relu_threshold_edges", lambda: L.ReLU(threshold=0.5), [(10,)], {"edges": True}),
    ("relu_max6_slope", lambda: L.ReLU(max_value=6, negative_slope=0.2), [(10,)],
     {"edges": True, "scale": 4.0}),
    ("thresholded_relu_default", lambda: L.ThresholdedReLU(), [(10,)], {"edges": True}),
    ("thresholded_relu_theta", lambda: L.ThresholdedReLU(theta=0.5), [(10,)], {"edges": True}),
    ("leaky_relu_big_alpha", lambda: L.LeakyReLU(alpha=1.5), [(4, 5)], {}),
    ("elu_alpha_small", lambda: L.ELU(alpha=0.3), [(4, 5)], {}),
    ("softmax_two_axes", lambda: L.Softmax(axis=(1, 2)), [(3, 4)], {}),
    ("softmax_axis_list1", lambda: L.Softmax(axis=[1]), [(3, 4)], {}),
    ("softmax_mask", lambda: L.Softmax(), [(3, 4)], {"mask": True}),
    ("softmax_mask_robust", lambda: L.Softmax(robust_masking=True), [(3, 4)], {"mask": True}),
    ("prelu_shared_axis1", lambda: L.PReLU(shared_axes=1), [(3, 4)], {}),
    ("prelu_3d_full", lambda: L.PReLU(alpha_initializer="ones"), [(2, 3, 2)], {}),
]


def make_case(name, factory, shapes, options, rng):
    keras.backend.clear_session()
    layer = factory()
    inputs = [keras.Input(shape=s) for s in shapes]
    merge = len(shapes) > 1
    model = keras.Model(inputs, layer(inputs if merge else inputs[0]))
    config = json.loads(model.to_json())["config"]["layers"][-1]["config"]
    weights = [rng.uniform(-0.8, 0.8, size=w.shape).astype("float32") for w in layer.weights]
    if weights:
        layer.set_weights(weights)
    if options.get("edges"):
        xs = [np.stack([np.roll(EDGES, k) for k in range(BATCH)]) * options.get("scale", 1.0)]
        xs = [x.astype("float32") for x in xs]
    else:
        xs = [rng.normal(size=(BATCH,) + s).astype("float32") for s in shapes]
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    if options.get("mask"):
        mask = rng.choice(np.array([0.0, 0.2, 0.7, 1.0], "float32"), size=xs[0].shape)
        mask[:, :, 0] = 1.0  # every row keeps at least one position
        arrays["mask"] = mask
        y = layer(xs[0], mask=mask)
    else:
        y = layer(xs if merge else xs[0])
    arrays["y0"] = y.numpy()
    np.savez(OUT_DIR / f"{name}.npz", **arrays)
    meta = {"case": name, "class_name": type(layer).__name__, "config": config,
            "input_shapes": [[None, *s] for s in shapes],
            "output_shape": list(model.output_shape),
            "weight_names": [w.name.split("/")[-1].split(":")[0] for w in layer.weights],
            "weight_shapes": [list(w.shape) for w in layer.weights],
            "keras_version": keras.__version__}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")):
        old.unlink()
    rng = np.random.default_rng(4321)
    for case in CASES:
        make_case(*case, rng)
        print("wrote", case[0])


if __name__ == "__main__":
    main()
