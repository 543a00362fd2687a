"""Generate numerical reference fixtures for graphkeras layers from real tf.keras 2.x.

Each case builds a tiny model (usually ``Input -> layer -> output``, plus a few
whole models), overwrites every weight with seeded random values, runs
``model.predict`` (inference mode, ``training=False``) and writes two files into
``tests/fixtures/layers/``:

``<case>.npz``
    ``x0, x1, ...``  model inputs (float32, or int32 for Embedding),
    ``w0, w1, ...``  every entry of ``model.get_weights()`` in order,
    ``y0, y1, ...``  outputs of ``model.predict(x, verbose=0)``.

``<case>.json``
    ``{"case", "model_json", "weight_names", "weight_shapes", "summary",
    "input_shapes", "input_dtypes", "output_shapes", "keras_version",
    "tensorflow_version"}`` where ``model_json`` is ``model.to_json()`` and
    ``summary`` is the text of ``model.summary()``.

Cases whose layer or option does not exist in the installed tf.keras are
skipped with a printed note.  Existing ``*.npz`` / ``*.json`` files in the
output folder are removed first, so the folder always matches the table.

How to run (from the repository root), in a separate reference environment::

    python3.11 -m venv .venv-ref
    .venv-ref/bin/pip install "tensorflow-cpu==2.21.*" "tf-keras==2.21.*"
    .venv-ref/bin/python tests/reference/make_layer_fixtures.py

The script sets ``TF_USE_LEGACY_KERAS=1`` and ``TF_ENABLE_ONEDNN_OPTS=0`` itself
and imports ``tf_keras``.
"""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN graph rewrites fuse LayerNormalization(axis=[1, 2]) into a kernel that
# rejects non-1D scales; the plain TF kernels are also the simpler reference.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")  # silence per-case predict retracing warnings
L = keras.layers

OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "layers"
BATCH = 3


# ---------------------------------------------------------------------------
# Case table helpers
# ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    build: Callable[[], keras.Model]  # called after clear_session()
    int_high: int = 10  # exclusive upper bound for integer inputs


def layer_case(name, make_layer, shape, dtype="float32", int_high=10):
    """``Input(shape) -> make_layer() -> output`` as a functional model."""

    def build():
        inp = keras.Input(shape=shape, dtype=dtype)
        return keras.Model(inp, make_layer()(inp))

    return Case(name, build, int_high)


def merge_case(name, make_layer, shapes):
    """``[Input(s) for s in shapes] -> make_layer()(inputs) -> output``."""

    def build():
        inputs = [keras.Input(shape=s) for s in shapes]
        return keras.Model(inputs, make_layer()(inputs))

    return Case(name, build)


def activation_cases(names):
    """One ``Activation(name)`` case per activation, on a (4, 5) input."""
    return [
        layer_case(f"activation_{n}", lambda n=n: L.Activation(n), (4, 5))
        for n in names
    ]


# ---------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------


def build_mlp():
    inp = keras.Input(shape=(20,))
    h = L.Dense(16, activation="relu")(inp)
    h = L.Dropout(0.5)(h)
    h = L.Dense(8, activation="relu")(h)
    return keras.Model(inp, L.Dense(3, activation="softmax")(h))


def build_cnn():
    inp = keras.Input(shape=(12, 12, 1))
    h = L.Conv2D(4, 3, activation="relu")(inp)
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(6, 3, activation="relu")(h)
    h = L.Flatten()(h)
    return keras.Model(inp, L.Dense(10, activation="softmax")(h))


def build_seq_mlp():
    return keras.Sequential(
        [
            L.InputLayer(input_shape=(20,)),
            L.Dense(16, activation="relu"),
            L.Dropout(0.5),
            L.Dense(8, activation="relu"),
            L.Dense(3, activation="softmax"),
        ]
    )


def build_seq_cnn():
    return keras.Sequential(
        [
            L.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
            L.MaxPooling2D(2),
            L.Conv2D(6, 3, activation="relu"),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )


def build_multi_io():
    a = keras.Input(shape=(6,), name="in_a")
    b = keras.Input(shape=(4,), name="in_b")
    h = L.Concatenate()([a, b])
    h = L.Dense(8, activation="relu")(h)
    out = L.Dense(3, activation="softmax", name="out")(h)
    out_1 = L.Dense(1, name="out_1")(h)
    return keras.Model([a, b], [out, out_1])


def build_tf_ops():
    """Operators and tf functions on KerasTensors: tf.keras records TFOpLambda layers."""
    a = keras.Input(shape=(6,), name="a")
    b = keras.Input(shape=(6,), name="b")
    h = (a + b) * 2.0 - 1.0
    h = tf.nn.relu(h) + tf.math.square(a)
    h = tf.concat([h, tf.math.reduce_mean(b, axis=-1, keepdims=True)], axis=1)
    h = tf.reshape(h, (-1, 7, 1))
    h = h[:, 1:5, 0]
    out = L.Dense(2, name="head")(1.0 - h)
    return keras.Model([a, b], out)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

IMG = (8, 8, 4)  # default 2D spatial input (H, W, C)
SEQ = (10, 4)  # default 1D input (steps, C)

CASES = [
    # Dense
    layer_case("dense_basic", lambda: L.Dense(5), (6,)),
    layer_case("dense_relu", lambda: L.Dense(5, activation="relu"), (6,)),
    layer_case("dense_no_bias_tanh", lambda: L.Dense(5, use_bias=False, activation="tanh"), (6,)),
    layer_case("dense_softmax", lambda: L.Dense(4, activation="softmax"), (6,)),
    layer_case("dense_3d", lambda: L.Dense(5, activation="sigmoid"), (4, 6)),
    # Activation layer, every built-in activation
    *activation_cases(
        [
            "relu", "sigmoid", "softmax", "tanh", "gelu", "elu", "selu",
            "softplus", "softsign", "swish", "linear", "exponential",
            "hard_sigmoid", "relu6", "leaky_relu", "mish", "log_softmax",
        ]
    ),
    # Advanced activation layers
    layer_case("relu_layer_basic", lambda: L.ReLU(), (4, 5)),
    layer_case("relu_layer_max_value", lambda: L.ReLU(max_value=0.5), (4, 5)),
    layer_case("relu_layer_negative_slope", lambda: L.ReLU(negative_slope=0.1), (4, 5)),
    layer_case("relu_layer_threshold", lambda: L.ReLU(threshold=0.3), (4, 5)),
    layer_case(
        "relu_layer_all",
        lambda: L.ReLU(max_value=1.2, negative_slope=0.2, threshold=0.1),
        (4, 5),
    ),
    layer_case("leaky_relu_default", lambda: L.LeakyReLU(), (4, 5)),
    layer_case("leaky_relu_alpha", lambda: L.LeakyReLU(alpha=0.05), (4, 5)),
    layer_case("prelu_basic", lambda: L.PReLU(), (4, 5)),
    layer_case("prelu_shared_axes", lambda: L.PReLU(shared_axes=[1, 2]), (6, 6, 3)),
    layer_case("elu_layer_default", lambda: L.ELU(), (4, 5)),
    layer_case("elu_layer_alpha", lambda: L.ELU(alpha=0.5), (4, 5)),
    layer_case("softmax_layer_default", lambda: L.Softmax(), (4, 5)),
    layer_case("softmax_layer_axis1", lambda: L.Softmax(axis=1), (4, 5)),
    # Core / reshaping
    layer_case("dropout", lambda: L.Dropout(0.5), (4, 5)),
    layer_case("flatten_3d", lambda: L.Flatten(), (4, 5)),
    layer_case("flatten_4d", lambda: L.Flatten(), (3, 4, 2)),
    layer_case("reshape_basic", lambda: L.Reshape((5, 4)), (4, 5)),
    layer_case("reshape_minus1", lambda: L.Reshape((-1, 2)), (3, 4, 2)),
    layer_case("permute_2d", lambda: L.Permute((2, 1)), (4, 5)),
    layer_case("permute_3d", lambda: L.Permute((3, 1, 2)), (3, 4, 2)),
    layer_case("repeat_vector", lambda: L.RepeatVector(3), (5,)),
    # Merging
    merge_case("concatenate_last", lambda: L.Concatenate(), [(4, 3), (4, 2)]),
    merge_case("concatenate_axis1", lambda: L.Concatenate(axis=1), [(4, 3), (2, 3)]),
    merge_case("add_two", lambda: L.Add(), [(4, 5), (4, 5)]),
    merge_case("add_three", lambda: L.Add(), [(4, 5), (4, 5), (4, 5)]),
    merge_case("subtract", lambda: L.Subtract(), [(4, 5), (4, 5)]),
    merge_case("multiply", lambda: L.Multiply(), [(4, 5), (4, 5)]),
    merge_case("average", lambda: L.Average(), [(4, 5), (4, 5), (4, 5)]),
    merge_case("maximum", lambda: L.Maximum(), [(4, 5), (4, 5)]),
    merge_case("minimum", lambda: L.Minimum(), [(4, 5), (4, 5)]),
    merge_case("dot_axes1", lambda: L.Dot(axes=1), [(5,), (5,)]),
    merge_case("dot_axes1_2", lambda: L.Dot(axes=(1, 2)), [(3, 4), (5, 3)]),
    merge_case("dot_normalize", lambda: L.Dot(axes=1, normalize=True), [(5,), (5,)]),
    merge_case("dot_3d_axes2", lambda: L.Dot(axes=2), [(3, 4), (5, 4)]),
    # Embedding
    layer_case("embedding_basic", lambda: L.Embedding(10, 4), (5,), dtype="int32"),
    layer_case("embedding_2d_ids", lambda: L.Embedding(7, 3), (2, 3), dtype="int32", int_high=7),
    # Conv1D
    layer_case("conv1d_valid", lambda: L.Conv1D(5, 3), SEQ),
    layer_case("conv1d_same", lambda: L.Conv1D(5, 3, padding="same"), SEQ),
    layer_case("conv1d_causal", lambda: L.Conv1D(5, 3, padding="causal"), SEQ),
    layer_case("conv1d_stride2", lambda: L.Conv1D(5, 3, strides=2), SEQ),
    layer_case("conv1d_same_stride2", lambda: L.Conv1D(5, 4, strides=2, padding="same"), SEQ),
    layer_case("conv1d_dilation2", lambda: L.Conv1D(5, 3, dilation_rate=2), SEQ),
    layer_case(
        "conv1d_causal_dilation2",
        lambda: L.Conv1D(5, 3, dilation_rate=2, padding="causal"),
        SEQ,
    ),
    layer_case("conv1d_groups2", lambda: L.Conv1D(6, 3, groups=2), SEQ),
    layer_case("conv1d_no_bias_relu", lambda: L.Conv1D(5, 3, use_bias=False, activation="relu"), SEQ),
    # Conv2D
    layer_case("conv2d_valid", lambda: L.Conv2D(5, 3), IMG),
    layer_case("conv2d_same", lambda: L.Conv2D(5, 3, padding="same"), IMG),
    layer_case("conv2d_valid_stride2", lambda: L.Conv2D(5, 3, strides=2), IMG),
    layer_case("conv2d_same_stride2", lambda: L.Conv2D(5, 3, strides=2, padding="same"), IMG),
    layer_case("conv2d_same_stride2_even_kernel", lambda: L.Conv2D(3, 2, strides=2, padding="same"), (7, 7, 2)),
    layer_case("conv2d_rect_kernel_strides", lambda: L.Conv2D(4, (3, 2), strides=(1, 2)), IMG),
    layer_case("conv2d_dilation2", lambda: L.Conv2D(5, 3, dilation_rate=2), IMG),
    layer_case("conv2d_same_dilation2", lambda: L.Conv2D(5, 3, dilation_rate=2, padding="same"), IMG),
    layer_case("conv2d_groups2", lambda: L.Conv2D(6, 3, groups=2), IMG),
    layer_case("conv2d_no_bias", lambda: L.Conv2D(5, 3, use_bias=False), IMG),
    layer_case("conv2d_relu", lambda: L.Conv2D(5, 3, activation="relu"), IMG),
    # Conv2DTranspose
    layer_case("conv2d_transpose_valid", lambda: L.Conv2DTranspose(4, 3), (5, 5, 3)),
    layer_case("conv2d_transpose_same", lambda: L.Conv2DTranspose(4, 3, padding="same"), (5, 5, 3)),
    layer_case("conv2d_transpose_valid_stride2", lambda: L.Conv2DTranspose(4, 3, strides=2), (5, 5, 3)),
    layer_case(
        "conv2d_transpose_same_stride2",
        lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same"),
        (5, 5, 3),
    ),
    layer_case(
        "conv2d_transpose_output_padding",
        lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=1),
        (5, 5, 3),
    ),
    layer_case(
        "conv2d_transpose_same_output_padding",
        lambda: L.Conv2DTranspose(4, 4, strides=3, padding="same", output_padding=(1, 2)),
        (4, 4, 3),
    ),
    layer_case(
        "conv2d_transpose_no_bias_relu",
        lambda: L.Conv2DTranspose(4, 2, strides=2, use_bias=False, activation="relu"),
        (5, 5, 3),
    ),
    # DepthwiseConv2D / SeparableConv2D
    layer_case("depthwise_conv2d_valid", lambda: L.DepthwiseConv2D(3), IMG),
    layer_case("depthwise_conv2d_same_mult2", lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), IMG),
    layer_case("depthwise_conv2d_stride2", lambda: L.DepthwiseConv2D(3, strides=2), IMG),
    layer_case(
        "depthwise_conv2d_same_stride2_mult2",
        lambda: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same"),
        IMG,
    ),
    layer_case("separable_conv2d_valid", lambda: L.SeparableConv2D(5, 3), IMG),
    layer_case(
        "separable_conv2d_same_stride2_mult2",
        lambda: L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, padding="same"),
        IMG,
    ),
    layer_case(
        "separable_conv2d_no_bias_relu",
        lambda: L.SeparableConv2D(5, 3, use_bias=False, activation="relu"),
        IMG,
    ),
    # Pooling
    layer_case("max_pooling1d_default", lambda: L.MaxPooling1D(), SEQ),
    layer_case("max_pooling1d_valid_stride", lambda: L.MaxPooling1D(3, strides=2), SEQ),
    layer_case("max_pooling1d_same_stride", lambda: L.MaxPooling1D(3, strides=2, padding="same"), SEQ),
    layer_case("average_pooling1d_default", lambda: L.AveragePooling1D(), SEQ),
    layer_case("average_pooling1d_valid_stride", lambda: L.AveragePooling1D(3, strides=2), SEQ),
    layer_case("average_pooling1d_same_stride", lambda: L.AveragePooling1D(3, strides=2, padding="same"), SEQ),
    layer_case("max_pooling2d_default", lambda: L.MaxPooling2D(), IMG),
    layer_case("max_pooling2d_valid_stride", lambda: L.MaxPooling2D(3, strides=2), IMG),
    layer_case("max_pooling2d_same_stride", lambda: L.MaxPooling2D(3, strides=2, padding="same"), (7, 7, 3)),
    layer_case("max_pooling2d_same_stride1", lambda: L.MaxPooling2D(2, strides=1, padding="same"), IMG),
    layer_case("average_pooling2d_default", lambda: L.AveragePooling2D(), IMG),
    layer_case("average_pooling2d_valid_stride", lambda: L.AveragePooling2D(3, strides=2), IMG),
    layer_case(
        "average_pooling2d_same_stride",
        lambda: L.AveragePooling2D(3, strides=2, padding="same"),
        (7, 7, 3),
    ),
    layer_case(
        "average_pooling2d_same_rect",
        lambda: L.AveragePooling2D((2, 3), strides=(1, 2), padding="same"),
        IMG,
    ),
    layer_case("global_average_pooling1d", lambda: L.GlobalAveragePooling1D(), SEQ),
    layer_case("global_average_pooling1d_keepdims", lambda: L.GlobalAveragePooling1D(keepdims=True), SEQ),
    layer_case("global_max_pooling1d", lambda: L.GlobalMaxPooling1D(), SEQ),
    layer_case("global_max_pooling1d_keepdims", lambda: L.GlobalMaxPooling1D(keepdims=True), SEQ),
    layer_case("global_average_pooling2d", lambda: L.GlobalAveragePooling2D(), IMG),
    layer_case("global_average_pooling2d_keepdims", lambda: L.GlobalAveragePooling2D(keepdims=True), IMG),
    layer_case("global_max_pooling2d", lambda: L.GlobalMaxPooling2D(), IMG),
    layer_case("global_max_pooling2d_keepdims", lambda: L.GlobalMaxPooling2D(keepdims=True), IMG),
    # Normalization
    layer_case("batch_norm_4d_last", lambda: L.BatchNormalization(), (5, 5, 4)),
    layer_case("batch_norm_4d_axis1", lambda: L.BatchNormalization(axis=1), (4, 5, 5)),
    layer_case("batch_norm_no_center", lambda: L.BatchNormalization(center=False), (5, 5, 4)),
    layer_case("batch_norm_no_scale", lambda: L.BatchNormalization(scale=False), (5, 5, 4)),
    layer_case(
        "batch_norm_no_center_no_scale",
        lambda: L.BatchNormalization(center=False, scale=False),
        (5, 5, 4),
    ),
    layer_case("batch_norm_2d", lambda: L.BatchNormalization(), (6,)),
    layer_case("batch_norm_epsilon", lambda: L.BatchNormalization(epsilon=0.1), (6,)),
    layer_case("batch_norm_3d", lambda: L.BatchNormalization(), (4, 5)),
    layer_case("layer_norm_last", lambda: L.LayerNormalization(), (4, 6)),
    layer_case("layer_norm_2d", lambda: L.LayerNormalization(), (6,)),
    layer_case("layer_norm_axis12", lambda: L.LayerNormalization(axis=[1, 2]), (4, 6)),
    layer_case("layer_norm_no_center", lambda: L.LayerNormalization(center=False), (4, 6)),
    layer_case("layer_norm_no_scale", lambda: L.LayerNormalization(scale=False), (4, 6)),
    layer_case(
        "layer_norm_no_center_no_scale_eps",
        lambda: L.LayerNormalization(center=False, scale=False, epsilon=0.1),
        (4, 6),
    ),
    # Padding / cropping / upsampling
    layer_case("zero_padding2d_int", lambda: L.ZeroPadding2D(1), (4, 5, 2)),
    layer_case("zero_padding2d_asym", lambda: L.ZeroPadding2D(((1, 2), (3, 0))), (4, 5, 2)),
    layer_case("cropping2d_int", lambda: L.Cropping2D(1), (6, 7, 2)),
    layer_case("cropping2d_asym", lambda: L.Cropping2D(((1, 2), (0, 3))), (6, 7, 2)),
    layer_case("upsampling2d_default", lambda: L.UpSampling2D(), (3, 4, 2)),
    layer_case("upsampling2d_nearest_2x3", lambda: L.UpSampling2D((2, 3)), (3, 4, 2)),
    layer_case(
        "upsampling2d_bilinear_2x3",
        lambda: L.UpSampling2D((2, 3), interpolation="bilinear"),
        (3, 4, 2),
    ),
    layer_case("upsampling1d", lambda: L.UpSampling1D(2), (5, 3)),
    layer_case("upsampling1d_size3", lambda: L.UpSampling1D(3), (5, 3)),
    layer_case("zero_padding1d_int", lambda: L.ZeroPadding1D(2), (5, 3)),
    layer_case("zero_padding1d_asym", lambda: L.ZeroPadding1D((1, 2)), (5, 3)),
    layer_case("cropping1d_int", lambda: L.Cropping1D(1), (7, 3)),
    layer_case("cropping1d_asym", lambda: L.Cropping1D((1, 2)), (7, 3)),
    # Whole models
    Case("mlp", build_mlp),
    Case("cnn", build_cnn),
    Case("seq_mlp", build_seq_mlp),
    Case("seq_cnn", build_seq_cnn),
    Case("multi_io", build_multi_io),
    Case("tf_ops", build_tf_ops),
]


# ---------------------------------------------------------------------------
# Fixture generation
# ---------------------------------------------------------------------------


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)) else [x]


def shape_list(shape) -> list:
    return [None if d is None else int(d) for d in shape]


def random_weights(model: keras.Model, rng: np.random.Generator) -> list:
    """Seeded non-trivial values for every weight (variances kept positive)."""
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        if "moving_variance" in w.name:
            v = rng.uniform(0.5, 1.5, size=shape)
        elif "gamma" in w.name:
            v = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        else:
            v = rng.normal(0.0, 0.5, size=shape)
        values.append(v.astype(w.dtype.as_numpy_dtype))
    return values


def random_inputs(model: keras.Model, rng: np.random.Generator, int_high: int) -> list:
    xs = []
    for t in model.inputs:
        shape = (BATCH,) + tuple(int(d) for d in t.shape[1:])
        if t.dtype.is_integer:
            xs.append(rng.integers(0, int_high, size=shape).astype(t.dtype.as_numpy_dtype))
        else:
            xs.append(rng.normal(0.0, 1.0, size=shape).astype(np.float32))
    return xs


def summary_text(model: keras.Model) -> str:
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return "\n".join(lines)


def run_case(index: int, case: Case) -> Optional[str]:
    """Write the fixture for one case; return a skip reason instead on failure to build."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(index)
    rng = np.random.default_rng(index)
    try:
        model = case.build()
    except Exception as exc:  # layer/option missing in this tf.keras version
        return f"{type(exc).__name__}: {exc}"

    model.set_weights(random_weights(model, rng))
    xs = random_inputs(model, rng, case.int_high)
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    ys = ys if isinstance(ys, list) else [ys]

    arrays = {}
    arrays.update({f"x{i}": x for i, x in enumerate(xs)})
    arrays.update({f"w{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update({f"y{i}": np.asarray(y) for i, y in enumerate(ys)})
    np.savez_compressed(OUT_DIR / f"{case.name}.npz", **arrays)

    meta = {
        "case": case.name,
        "model_json": model.to_json(),
        "weight_names": [w.name for w in model.weights],
        "weight_shapes": [shape_list(w.shape) for w in model.weights],
        "summary": summary_text(model),
        "input_shapes": [shape_list(s) for s in as_list(model.input_shape)],
        "input_dtypes": [t.dtype.name for t in model.inputs],
        "output_shapes": [shape_list(s) for s in as_list(model.output_shape)],
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    with open(OUT_DIR / f"{case.name}.json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return None


def main() -> int:
    names = [c.name for c in CASES]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")):
        old.unlink()

    written, skipped = 0, []
    for index, case in enumerate(CASES):
        reason = run_case(index, case)
        if reason is None:
            written += 1
        else:
            skipped.append(case.name)
            print(f"SKIP {case.name}: {reason}")

    size = sum(p.stat().st_size for p in OUT_DIR.iterdir() if p.is_file())
    print(
        f"tensorflow {tf.__version__}, tf_keras {keras.__version__}: "
        f"wrote {written} cases, skipped {len(skipped)} -> {OUT_DIR} ({size / 1024:.1f} KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
