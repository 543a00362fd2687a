"""Generate reference fixtures for masking, TimeDistributed and the attention layers
from tf.keras 2.x.

Each case is a small functional (or Sequential) model; its weights are set to seeded
random values. Writes into ``tests/fixtures/attention/``:

``<case>.npz``
    ``x0, x1, ...`` the inputs, ``w0, ...`` ``model.get_weights()``, ``y0, ...`` the
    ``predict`` outputs, ``m<i>`` the ``_keras_mask`` of output ``i`` (eager call) where
    it has one. Training cases add ``y`` (targets), ``sw`` (sample weights), ``after<i>``
    (the weights after one ``train_on_batch``), ``xlong0`` (the inputs padded longer).

``<case>.json``
    ``{"case", "model_json", "weight_names", "weight_shapes", "output_shapes",
    "masked_outputs", ...}``; training cases add ``"train_logs"`` (train_on_batch's
    loss/metrics before the update), ``"evaluate"`` (evaluate's results on the batch),
    ``"evaluate_sw"`` (with sample weights) and ``"evaluate_long"`` (on the inputs padded
    with more zeros).

``errors.json``
    ``{case: {"type", "message"}}``: tf.keras' errors for bad arguments and inputs.

``mha_classifier.h5``
    the ``train_mha_classifier`` model saved by tf.keras (no optimizer), to load.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_attention_fixtures.py
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
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "attention"
BATCH = 3
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def tokens(rng, shape, vocab, min_len=1):
    """Integer tokens 1..vocab-1 with a zero-padded tail of random length per row."""
    x = rng.integers(1, vocab, size=shape).astype("int32")
    steps = shape[-1]
    flat = x.reshape(-1, steps)
    for row in flat:
        row[rng.integers(min_len, steps + 1):] = 0
    return flat.reshape(shape)


def masked_floats(rng, shape, mask_value=0.0):
    """Floats whose trailing timesteps (random per row, never all) equal ``mask_value``."""
    x = rng.normal(size=shape).astype("float32")
    for row in x:
        row[rng.integers(1, shape[1] + 1):] = mask_value
    return x


# ------------------------------------------------------------------ forward cases
@case
def mha_self(rng):
    x = keras.Input((5, 8))
    y = L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 5, 8))]


@case
def mha_cross(rng):
    q, v, k = keras.Input((4, 8)), keras.Input((6, 5)), keras.Input((6, 7))
    y = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=6)(q, v, key=k)
    return keras.Model([q, v, k], y), [rng.normal(size=(BATCH, 4, 8)),
                                       rng.normal(size=(BATCH, 6, 5)),
                                       rng.normal(size=(BATCH, 6, 7))]


@case
def mha_nobias_scores(rng):
    q, v = keras.Input((4, 6)), keras.Input((5, 6))
    y, s = L.MultiHeadAttention(2, 4, use_bias=False)(q, v, return_attention_scores=True)
    return keras.Model([q, v], [y, s]), [rng.normal(size=(BATCH, 4, 6)),
                                         rng.normal(size=(BATCH, 5, 6))]


@case
def mha_attention_mask(rng):
    q, v, m = keras.Input((4, 6)), keras.Input((5, 6)), keras.Input((4, 5), dtype="bool")
    y = L.MultiHeadAttention(2, 3)(q, v, attention_mask=m)
    mask = rng.random((BATCH, 4, 5)) < 0.6
    mask[:, :, 0] = True
    return keras.Model([q, v, m], y), [rng.normal(size=(BATCH, 4, 6)),
                                       rng.normal(size=(BATCH, 5, 6)), mask]


@case
def mha_causal_dynamic(rng):
    x = keras.Input((None, 6))
    y = L.MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 5, 6))]


@case
def mha_embedding_mask(rng):
    t = keras.Input((7,), dtype="int32")
    e = L.Embedding(15, 8, mask_zero=True)(t)
    y, s = L.MultiHeadAttention(2, 4)(e, e, return_attention_scores=True)
    d = L.Dense(3)(y)
    return keras.Model(t, [y, s, d]), [tokens(rng, (BATCH, 7), 15)]


@case
def mha_masked_query_value_causal(rng):
    qt, vt = keras.Input((5,), dtype="int32"), keras.Input((6,), dtype="int32")
    qe = L.Embedding(10, 6, mask_zero=True)(qt)
    ve = L.Embedding(10, 6, mask_zero=True)(vt)
    m = keras.Input((5, 6))
    y = L.MultiHeadAttention(2, 3)(qe, ve, attention_mask=m, use_causal_mask=True)
    mask = (rng.random((BATCH, 5, 6)) < 0.8).astype("float32")
    return keras.Model([qt, vt, m], y), [tokens(rng, (BATCH, 5), 10), tokens(rng, (BATCH, 6), 10),
                                         mask]


@case
def mha_axes_2d(rng):
    x = keras.Input((3, 4, 8))
    y, s = L.MultiHeadAttention(2, 3, attention_axes=(1, 2))(x, x, return_attention_scores=True)
    return keras.Model(x, [y, s]), [rng.normal(size=(BATCH, 3, 4, 8))]


@case
def mha_axes_int(rng):
    x = keras.Input((3, 4, 8))
    y = L.MultiHeadAttention(2, 3, attention_axes=2)(x, x)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 3, 4, 8))]


@case
def mha_output_shape_list(rng):
    x = keras.Input((4, 6))
    y = L.MultiHeadAttention(2, 3, value_dim=5, output_shape=(2, 5))(x, x)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 4, 6))]


@case
def attention_dot_masked(rng):
    qt, vt = keras.Input((4,), dtype="int32"), keras.Input((5,), dtype="int32")
    qe = L.Embedding(9, 6, mask_zero=True)(qt)
    ve = L.Embedding(9, 6, mask_zero=True)(vt)
    y, s = L.Attention()([qe, ve], return_attention_scores=True)
    return keras.Model([qt, vt], [y, s]), [tokens(rng, (BATCH, 4), 9), tokens(rng, (BATCH, 5), 9)]


@case
def attention_scale_key_causal(rng):
    q, v, k = keras.Input((4, 6)), keras.Input((5, 6)), keras.Input((5, 6))
    y = L.Attention(use_scale=True)([q, v, k], use_causal_mask=True)
    return keras.Model([q, v, k], y), [rng.normal(size=(BATCH, 4, 6)),
                                       rng.normal(size=(BATCH, 5, 6)),
                                       rng.normal(size=(BATCH, 5, 6))]


@case
def attention_concat_masking(rng):
    q, v = keras.Input((4, 6)), keras.Input((5, 6))
    y = L.Attention(use_scale=True, score_mode="concat")([q, L.Masking()(v)])
    return keras.Model([q, v], y), [rng.normal(size=(BATCH, 4, 6)),
                                    masked_floats(rng, (BATCH, 5, 6))]


@case
def additive_masked(rng):
    q, v, k = keras.Input((4, 6)), keras.Input((5, 6)), keras.Input((5, 6))
    y, s = L.AdditiveAttention()([L.Masking()(q), L.Masking()(v), k],
                                 return_attention_scores=True)
    return keras.Model([q, v, k], [y, s]), [masked_floats(rng, (BATCH, 4, 6)),
                                            masked_floats(rng, (BATCH, 5, 6)),
                                            rng.normal(size=(BATCH, 5, 6))]


@case
def additive_noscale_causal(rng):
    q, v = keras.Input((None, 6)), keras.Input((None, 6))
    y = L.AdditiveAttention(use_scale=False)([q, v], use_causal_mask=True)
    return keras.Model([q, v], y), [rng.normal(size=(BATCH, 4, 6)),
                                    rng.normal(size=(BATCH, 5, 6))]


@case
def time_distributed_dense_masking(rng):
    x = keras.Input((5, 8))
    y = L.TimeDistributed(L.Dense(4, activation="tanh"))(L.Masking()(x))
    return keras.Model(x, y), [masked_floats(rng, (BATCH, 5, 8))]


@case
def time_distributed_conv2d(rng):
    x = keras.Input((3, 6, 6, 2))
    y = L.TimeDistributed(L.Conv2D(3, 2, strides=2, padding="same"))(x)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 3, 6, 6, 2))]


@case
def time_distributed_dynamic(rng):
    x = keras.Input((None, 4))
    y = L.TimeDistributed(L.Dense(2))(x)
    return keras.Model(x, y), [rng.normal(size=(BATCH, 6, 4))]


@case
def time_distributed_embedding(rng):
    x = keras.Input((3, 4), dtype="int32")
    y = L.TimeDistributed(L.Embedding(10, 3, mask_zero=True))(x)
    return keras.Model(x, y), [tokens(rng, (BATCH, 3, 4), 10)]


@case
def masking_merge(rng):
    a, b = keras.Input((5, 4)), keras.Input((5, 4))
    x1 = L.Activation("relu")(L.Dropout(0.5)(L.Dense(3)(L.Masking(mask_value=0.5)(a))))
    x2 = L.Masking()(b)
    c = L.Concatenate()([x1, x2])
    s = L.Add()([x1, L.Dense(3)(x2)])
    g = L.GlobalAveragePooling1D()(x1)
    return keras.Model([a, b], [c, s, g]), [masked_floats(rng, (BATCH, 5, 4), 0.5),
                                            masked_floats(rng, (BATCH, 5, 4))]


@case
def embedding_mask_layers(rng):
    t = keras.Input((6,), dtype="int32")
    e = L.Embedding(12, 4, mask_zero=True)(t)
    n = L.LayerNormalization()(e)
    d = L.Dense(3)(L.ReLU()(n))
    g = L.GlobalAveragePooling1D()(d)
    m = L.GlobalMaxPooling1D()(d)
    return keras.Model(t, [d, g, m]), [tokens(rng, (BATCH, 6), 12)]


@case
def nested_model_mask(rng):
    t = keras.Input((6,), dtype="int32")
    inner = keras.Model(t, L.Dense(4)(L.Embedding(10, 5, mask_zero=True)(t)), name="inner")
    t2 = keras.Input((6,), dtype="int32")
    h = inner(t2)
    y = L.GlobalAveragePooling1D()(h)
    return keras.Model(t2, [h, y]), [tokens(rng, (BATCH, 6), 10)]


# ----------------------------------------------------------------- training cases
TRAIN = {}


def train_case(fn):
    TRAIN[fn.__name__] = fn
    return fn


@train_case
def train_mha_classifier(rng):
    t = keras.Input((6,), dtype="int32")
    e = L.Embedding(20, 8, mask_zero=True)(t)
    a = L.MultiHeadAttention(2, 4)(e, e)
    g = L.GlobalAveragePooling1D()(a)
    y = L.Dense(3, activation="softmax")(g)
    model = keras.Model(t, y)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = tokens(rng, (4, 6), 20)
    target = rng.integers(0, 3, size=(4,)).astype("int32")
    return model, [x], target, None


@train_case
def train_masked_sequence_loss(rng):
    t = keras.Input((None,), dtype="int32")
    e = L.Embedding(20, 6, mask_zero=True)(t)
    a = L.MultiHeadAttention(2, 3)(e, e, use_causal_mask=True)
    y = L.Dense(1)(a)
    model = keras.Model(t, y)
    model.compile(keras.optimizers.SGD(0.2), "mse", metrics=["mae"], weighted_metrics=["mae"])
    x = tokens(rng, (4, 5), 20, min_len=2)
    target = rng.normal(size=(4, 5, 1)).astype("float32")
    sw = np.array([1.0, 0.5, 2.0, 0.0], "float32")
    return model, [x], target, sw


@train_case
def train_sequential_masking(rng):
    model = keras.Sequential([L.Masking(input_shape=(5, 3)),
                              L.TimeDistributed(L.Dense(4, activation="tanh")), L.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
    x = masked_floats(rng, (4, 5, 3))
    target = rng.normal(size=(4, 5, 1)).astype("float32")
    return model, [x], target, None


# ------------------------------------------------------------------------ errors
def errors():
    out = {}

    def record(name, fn):
        keras.backend.clear_session()
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - recording whatever tf.keras raises
            out[name] = {"type": type(err).__name__, "message": str(err)}
        else:
            raise AssertionError(f"{name}: tf.keras raised nothing")

    x = np.zeros((2, 4, 6), "float32")
    record("attention_not_list", lambda: L.Attention()(x))
    record("attention_one_input", lambda: L.Attention()([x]))
    record("attention_four_inputs", lambda: L.Attention()([x, x, x, x]))
    record("attention_mask_not_list", lambda: L.Attention()([x, x], mask=np.ones((2, 4), bool)))
    record("attention_mask_too_short",
           lambda: L.Attention()([x, x], mask=[np.ones((2, 4), bool)]))
    record("additive_not_list", lambda: L.AdditiveAttention()(x))
    record("attention_bad_score_mode", lambda: L.Attention(score_mode="sum"))
    record("time_distributed_not_layer", lambda: L.TimeDistributed("dense"))
    record("time_distributed_rank2",
           lambda: L.TimeDistributed(L.Dense(2))(keras.Input((4,))))
    record("wrapper_not_layer", lambda: L.Bidirectional("lstm"))
    record("mha_output_shape_mismatch",
           lambda: L.MultiHeadAttention(2, 3).compute_output_shape((None, 4, 6), (None, 5, 7)))
    record("mha_output_shape_key_mismatch",
           lambda: L.MultiHeadAttention(2, 3).compute_output_shape((None, 4, 6), (None, 5, 6),
                                                                   (None, 3, 6)))
    record("einsum_dense_bad_equation",
           lambda: L.EinsumDense("ab->b", output_shape=3)(keras.Input((4,))))
    record("einsum_dense_bad_bias",
           lambda: L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="x")(keras.Input((4,))))
    record("flatten_given_mask",
           lambda: L.Flatten().compute_mask(x, np.ones((2, 4), bool)))
    return out


# ------------------------------------------------------------------------ writing
def set_random_weights(model, rng):
    weights = [rng.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in model.weights]
    model.set_weights(weights)
    return weights


def describe(model):
    return {"model_json": json.loads(model.to_json()),
            "weight_names": [w.name for w in model.weights],
            "weight_shapes": [list(w.shape) for w in model.weights],
            "keras_version": keras.__version__}


def outputs_and_masks(model, xs):
    ys = model.predict(xs, verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    eager = model(xs if len(xs) > 1 else xs[0])
    eager = eager if isinstance(eager, (list, tuple)) else [eager]
    masks = [getattr(t, "_keras_mask", None) for t in eager]
    return ys, masks


def write_forward(name, fn, rng):
    keras.backend.clear_session()
    model, xs = fn(rng)
    xs = [x.astype("float32") if x.dtype == np.float64 else x for x in xs]
    weights = set_random_weights(model, rng)
    ys, masks = outputs_and_masks(model, xs)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"y{i}": y for i, y in enumerate(ys)})
    arrays.update({f"m{i}": np.asarray(m) for i, m in enumerate(masks) if m is not None})
    np.savez_compressed(OUT_DIR / f"{name}.npz", **arrays)
    meta = {"case": name, **describe(model),
            "output_shapes": [list(y.shape) for y in ys],
            "masked_outputs": [i for i, m in enumerate(masks) if m is not None]}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def write_train(name, fn, rng):
    keras.backend.clear_session()
    model, xs, target, sw = fn(rng)
    weights = set_random_weights(model, rng)
    meta = {"case": name, **describe(model)}
    meta["compile"] = json.loads(json.dumps(model._get_compile_args(), default=str))
    feed = xs if len(xs) > 1 else xs[0]
    ys, masks = outputs_and_masks(model, xs)
    meta["masked_outputs"] = [i for i, m in enumerate(masks) if m is not None]
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"y{i}": y for i, y in enumerate(ys)})
    arrays.update({f"m{i}": np.asarray(m) for i, m in enumerate(masks) if m is not None})
    arrays["y"] = target
    meta["evaluate"] = model.evaluate(feed, target, batch_size=len(target), verbose=0,
                                      return_dict=True)
    if sw is not None:
        arrays["sw"] = sw
        meta["evaluate_sw"] = model.evaluate(feed, target, sample_weight=sw,
                                             batch_size=len(target), verbose=0, return_dict=True)
    if model.inputs[0].shape[1] is None:  # padded longer: the same loss, as masked
        longer = np.pad(xs[0], ((0, 0), (0, 3)))
        tlong = np.pad(target, ((0, 0), (0, 3), (0, 0)))
        arrays["xlong0"], arrays["ylong"] = longer, tlong
        meta["evaluate_long"] = model.evaluate(longer, tlong, batch_size=len(target), verbose=0,
                                               return_dict=True)
    if name == "train_mha_classifier":
        model.save(OUT_DIR / "mha_classifier.h5", include_optimizer=False)
    logs = model.train_on_batch(feed, target, sample_weight=sw, return_dict=True)
    meta["train_logs"] = {k: float(v) for k, v in logs.items()}
    arrays.update({f"after{i}": w for i, w in enumerate(model.get_weights())})
    np.savez_compressed(OUT_DIR / f"{name}.npz", **arrays)
    (OUT_DIR / f"{name}.json").write_text(json.dumps(meta, indent=1, default=float) + "\n")


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")) + \
            list(OUT_DIR.glob("*.h5")):
        old.unlink()
    rng = np.random.default_rng(2024)
    for name, fn in CASES.items():
        write_forward(name, fn, rng)
        print("wrote", name)
    for name, fn in TRAIN.items():
        write_train(name, fn, rng)
        print("wrote", name)
    (OUT_DIR / "errors.json").write_text(json.dumps(errors(), indent=1) + "\n")
    print("wrote errors")


if __name__ == "__main__":
    main()
