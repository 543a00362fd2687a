"""Generate reference values for graphkeras' losses from real tf.keras 2.x.

Writes into ``tests/fixtures/losses/``:

``losses.npz``
    the arrays of all cases packed by dtype: one flat array per dtype (``float32``,
    ``int32``, ...). A case's arrays are ``y_true``, ``y_pred`` (the logits when the case
    has an ``activation``), optionally ``sample_weight`` and ``mask``, and ``out``: what
    tf.keras returned.

``cases.json``
    ``{"keras_version", "cases": [...], "configs": {...}}``. A case is
    ``{"id", "kind": "class" | "function", "name", "kwargs", "activation", "note", "arrays"}``
    where ``arrays`` maps each array name to ``[dtype, offset, shape]`` in ``losses.npz``:
    ``class`` cases call ``getattr(losses, name)(**kwargs)(y_true, y_pred, sample_weight)``
    on tf tensors (so tf.keras' rank matching applies), ``function`` cases call
    ``getattr(losses, name)(y_true, y_pred, **kwargs)``. ``activation`` ("sigmoid" /
    "softmax") means ``y_pred = keras.activations.<activation>(logits)``: a tensor that
    carries its logits, so the cross-entropies take the logits path. ``mask`` is set as
    ``y_pred._keras_mask``. ``configs`` holds ``get_config()`` of each class, with default
    arguments and with the ``kwargs`` listed there.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_loss_fixtures.py
"""

import json
import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

warnings.filterwarnings("ignore")
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "losses"
LOSSES = keras.losses

# class name -> (function name, data family)
CLASSES = {
    "MeanSquaredError": ("mean_squared_error", "regression"),
    "MeanAbsoluteError": ("mean_absolute_error", "regression"),
    "MeanAbsolutePercentageError": ("mean_absolute_percentage_error", "percentage"),
    "MeanSquaredLogarithmicError": ("mean_squared_logarithmic_error", "regression"),
    "BinaryCrossentropy": ("binary_crossentropy", "binary"),
    "BinaryFocalCrossentropy": ("binary_focal_crossentropy", "binary"),
    "CategoricalCrossentropy": ("categorical_crossentropy", "categorical"),
    "CategoricalFocalCrossentropy": ("categorical_focal_crossentropy", "categorical"),
    "SparseCategoricalCrossentropy": ("sparse_categorical_crossentropy", "sparse"),
    "Hinge": ("hinge", "hinge"),
    "SquaredHinge": ("squared_hinge", "hinge"),
    "CategoricalHinge": ("categorical_hinge", "categorical_hinge"),
    "Huber": ("huber", "regression"),
    "LogCosh": ("log_cosh", "regression"),
    "KLDivergence": ("kl_divergence", "distribution"),
    "Poisson": ("poisson", "poisson"),
    "CosineSimilarity": ("cosine_similarity", "regression"),
}

# non-default constructor arguments whose get_config() is recorded
CONFIG_KWARGS = {
    "BinaryCrossentropy": {"from_logits": True, "label_smoothing": 0.1, "axis": 0,
                           "reduction": "sum", "name": "bce"},
    "BinaryFocalCrossentropy": {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5,
                                "from_logits": True, "label_smoothing": 0.2},
    "CategoricalCrossentropy": {"from_logits": True, "label_smoothing": 0.3, "axis": 1},
    "CategoricalFocalCrossentropy": {"alpha": 0.5, "gamma": 3.0, "from_logits": True},
    "SparseCategoricalCrossentropy": {"from_logits": True, "ignore_class": -1,
                                      "reduction": "none"},
    "Huber": {"delta": 2.5},
    "CosineSimilarity": {"axis": 1, "reduction": "sum_over_batch_size"},
    "MeanSquaredError": {"reduction": "sum", "name": "my_mse"},
}


def make_data(family, shape, rng):
    """(y_true, y_pred) for a loss family; ``shape`` is y_pred's shape."""
    f32 = np.float32
    if family == "regression":
        return ((rng.normal(size=shape) * 1.5).astype(f32),
                (rng.normal(size=shape) * 1.5).astype(f32))
    if family == "percentage":
        y_true = rng.normal(size=shape).astype(f32)
        y_true.flat[0] = 0.0  # divided by epsilon
        return y_true, rng.normal(size=shape).astype(f32)
    if family == "binary":
        y_true = rng.integers(0, 2, size=shape).astype(f32)
        y_pred = rng.uniform(0.02, 0.98, size=shape).astype(f32)
        y_pred.flat[0], y_pred.flat[-1] = 0.0, 1.0  # clipped
        return y_true, y_pred
    if family == "categorical":
        labels = rng.integers(0, shape[-1], size=shape[:-1])
        y_true = np.eye(shape[-1], dtype=f32)[labels]
        y_pred = rng.uniform(0.05, 1.0, size=shape).astype(f32)
        y_pred /= y_pred.sum(-1, keepdims=True)
        y_pred.flat[0] = 0.0
        return y_true, y_pred
    if family == "sparse":
        labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
        y_pred = rng.uniform(0.05, 1.0, size=shape).astype(f32)
        y_pred /= y_pred.sum(-1, keepdims=True)
        return labels, y_pred
    if family == "hinge":
        return (rng.integers(0, 2, size=shape).astype(f32),
                rng.normal(size=shape).astype(f32))
    if family == "categorical_hinge":
        labels = rng.integers(0, shape[-1], size=shape[:-1])
        return np.eye(shape[-1], dtype=f32)[labels], rng.normal(size=shape).astype(f32)
    if family == "distribution":
        y_true = rng.uniform(0.0, 1.0, size=shape).astype(f32)
        y_true /= y_true.sum(-1, keepdims=True)
        y_pred = rng.uniform(0.01, 1.0, size=shape).astype(f32)
        y_pred /= y_pred.sum(-1, keepdims=True)
        y_true.flat[0] = 0.0
        return y_true, y_pred
    if family == "poisson":
        return (rng.integers(0, 5, size=shape).astype(f32),
                rng.uniform(0.0, 4.0, size=shape).astype(f32))
    raise ValueError(family)


class Writer:
    def __init__(self):
        self.chunks = {}  # dtype -> list of flat arrays
        self.sizes = {}
        self.cases = []

    def _put(self, array):
        array = np.asarray(array)
        dtype = array.dtype.name
        offset = self.sizes.get(dtype, 0)
        self.chunks.setdefault(dtype, []).append(array.ravel())
        self.sizes[dtype] = offset + array.size
        return [dtype, offset, list(array.shape)]

    def packed(self):
        return {dtype: np.concatenate(chunks) for dtype, chunks in self.chunks.items()}

    def add(self, kind, name, y_true, y_pred, kwargs=None, sample_weight=None,
            activation=None, mask=None, note=""):
        kwargs = dict(kwargs or {})
        case_id = f"c{len(self.cases):04d}"
        yt = tf.constant(y_true)
        yp = tf.constant(y_pred)
        if activation is not None:
            yp = getattr(keras.activations, activation)(yp)
            assert hasattr(yp, "_keras_logits")
        if mask is not None:
            yp._keras_mask = tf.constant(mask)
        if kind == "class":
            loss = getattr(LOSSES, name)(**kwargs)
            sw = None if sample_weight is None else tf.constant(sample_weight)
            out = loss(yt, yp, sample_weight=sw)
        else:
            out = getattr(LOSSES, name)(yt, yp, **kwargs)
        arrays = {"y_true": self._put(y_true), "y_pred": self._put(y_pred)}
        if sample_weight is not None:
            arrays["sample_weight"] = self._put(sample_weight)
        if mask is not None:
            arrays["mask"] = self._put(mask)
        arrays["out"] = self._put(out.numpy())
        self.cases.append({"id": case_id, "kind": kind, "name": name, "kwargs": kwargs,
                           "activation": activation, "note": note, "arrays": arrays})


def grid_cases(w, rng):
    """Every class x reduction x sample_weight form, on 2-D and on temporal 3-D data."""
    n, t, c = 4, 5, 3
    for cls, (_, family) in CLASSES.items():
        y_true, y_pred = make_data(family, (n, c), rng)
        weights = {"none": None, "1d": rng.uniform(0.1, 2.0, size=(n,)),
                   "col": rng.uniform(0.1, 2.0, size=(n, 1)), "scalar": np.float32(0.7)}
        for reduction in ("auto", "sum", "none", "sum_over_batch_size"):
            for wname, sw in weights.items():
                if wname == "scalar" and reduction not in ("auto", "none"):
                    continue
                w.add("class", cls, y_true, y_pred, {"reduction": reduction},
                      None if sw is None else np.asarray(sw, np.float32),
                      note=f"2d, sample_weight {wname}")
        y_true, y_pred = make_data(family, (n, t, c), rng)
        weights = {"none": None, "temporal": rng.uniform(0.0, 2.0, size=(n, t)),
                   "1d": rng.uniform(0.1, 2.0, size=(n,))}
        for reduction in ("auto", "sum", "none"):
            for wname, sw in weights.items():
                w.add("class", cls, y_true, y_pred, {"reduction": reduction},
                      None if sw is None else np.asarray(sw, np.float32),
                      note=f"3d, sample_weight {wname}")


def function_cases(w, rng):
    """Each per-sample function (and its aliases), on 2-D and 3-D data."""
    for cls, (fn, family) in CLASSES.items():
        for shape in ((4, 3), (2, 3, 4)):
            y_true, y_pred = make_data(family, shape, rng)
            w.add("function", fn, y_true, y_pred, note=f"function {shape}")
    y_true, y_pred = make_data("regression", (4, 3), rng)
    for alias in ("mse", "MSE", "mae", "MAE", "mape", "msle", "logcosh", "kld", "KLD",
                  "kullback_leibler_divergence"):
        w.add("function", alias, np.abs(y_true) / 4, np.abs(y_pred) / 4 + 0.01, note="alias")


def option_cases(w, rng):
    f32 = np.float32
    n, t, c = 4, 5, 3

    # binary cross-entropy: logits, smoothing, axis, int labels, saturated logits
    y_true, y_pred = make_data("binary", (n, c), rng)
    logits = (rng.normal(size=(n, c)) * 4).astype(f32)
    sw = rng.uniform(0.1, 2.0, size=(n,)).astype(f32)
    for kwargs in ({"from_logits": True}, {"label_smoothing": 0.1}, {"label_smoothing": 0.35},
                   {"from_logits": True, "label_smoothing": 0.2}, {"axis": 0},
                   {"axis": 0, "reduction": "none"}):
        pred = logits if kwargs.get("from_logits") else y_pred
        w.add("class", "BinaryCrossentropy", y_true, pred, kwargs, note="bce options")
        w.add("class", "BinaryCrossentropy", y_true, pred, kwargs, sample_weight=sw if
              kwargs.get("axis", -1) == -1 else None, note="bce options + weights")
        w.add("function", "binary_crossentropy", y_true, pred,
              {k: v for k, v in kwargs.items() if k != "reduction"}, note="bce fn options")
    w.add("class", "BinaryCrossentropy", y_true.astype(np.int32), y_pred, {}, note="int labels")
    w.add("class", "BinaryCrossentropy", y_true[:, :1], y_pred[:, 0], {}, note="(N,1) vs (N,)")
    w.add("class", "BinaryCrossentropy", y_true[:, 0], y_pred[:, :1], {}, note="(N,) vs (N,1)")
    w.add("class", "BinaryCrossentropy", y_true[:, :1], y_pred[:, :1], {}, sample_weight=sw,
          note="(N,1) and 1-D weights")
    big = np.array([[-30.0, -12.0, 0.5], [25.0, 9.0, -0.2], [18.0, -40.0, 3.0],
                    [-8.0, 16.0, 0.0]], f32)
    w.add("class", "BinaryCrossentropy", y_true, big, {"from_logits": True}, note="big logits")
    for kwargs in ({}, {"label_smoothing": 0.1}, {"from_logits": True}):
        w.add("class", "BinaryCrossentropy", y_true, big, kwargs, activation="sigmoid",
              note="sigmoid output carries logits")
        w.add("class", "BinaryFocalCrossentropy", y_true, big, kwargs, activation="sigmoid",
              note="sigmoid output carries logits")
    w.add("class", "BinaryCrossentropy", y_true, big, {}, activation="softmax",
          note="softmax output: tf.keras uses its logits with the sigmoid formula")

    # binary focal
    for kwargs in ({"apply_class_balancing": True}, {"gamma": 0.0}, {"gamma": 3.5, "alpha": 0.6,
                   "apply_class_balancing": True}, {"from_logits": True},
                   {"from_logits": True, "label_smoothing": 0.15, "apply_class_balancing": True},
                   {"label_smoothing": 0.3}, {"axis": 0}):
        pred = logits if kwargs.get("from_logits") else y_pred
        w.add("class", "BinaryFocalCrossentropy", y_true, pred, kwargs, note="focal options")
        w.add("function", "binary_focal_crossentropy", y_true, pred, kwargs, note="focal fn")

    # categorical cross-entropy
    y_true, y_pred = make_data("categorical", (n, c), rng)
    logits = (rng.normal(size=(n, c)) * 3).astype(f32)
    unnormalized = rng.uniform(0.1, 3.0, size=(n, c)).astype(f32)
    soft = rng.uniform(0.0, 1.0, size=(n, c)).astype(f32)
    for kwargs in ({"from_logits": True}, {"label_smoothing": 0.1},
                   {"from_logits": True, "label_smoothing": 0.25}):
        pred = logits if kwargs.get("from_logits") else y_pred
        w.add("class", "CategoricalCrossentropy", y_true, pred, kwargs, note="cce options")
        w.add("class", "CategoricalCrossentropy", y_true, pred, kwargs, sample_weight=sw,
              note="cce options + weights")
        w.add("class", "CategoricalFocalCrossentropy", y_true, pred, kwargs, note="cfce options")
    w.add("class", "CategoricalCrossentropy", y_true, unnormalized, {}, note="renormalized")
    w.add("class", "CategoricalCrossentropy", soft, y_pred, {}, note="soft labels")
    w.add("class", "CategoricalCrossentropy", y_true.astype(np.int32), y_pred, {},
          note="int labels")
    y3, p3 = make_data("categorical", (n, t, c), rng)
    l3 = (rng.normal(size=(n, t, c)) * 2).astype(f32)
    for axis in (1, 0):
        y_ax = np.moveaxis(y3, -1, axis)
        for kwargs in ({"axis": axis}, {"axis": axis, "from_logits": True},
                       {"axis": axis, "label_smoothing": 0.2}):
            pred = np.moveaxis(l3 if kwargs.get("from_logits") else p3, -1, axis)
            w.add("class", "CategoricalCrossentropy", y_ax, pred, kwargs, note="cce axis")
            w.add("function", "categorical_crossentropy", y_ax, pred, kwargs, note="cce fn axis")
            w.add("function", "categorical_focal_crossentropy", y_ax, pred, kwargs,
                  note="cfce fn axis")
    big = np.array([[-30.0, 12.0, 0.5], [25.0, 9.0, -60.0], [18.0, -40.0, 3.0],
                    [-8.0, 16.0, 0.0]], f32)
    for kwargs in ({}, {"label_smoothing": 0.1}, {"from_logits": True}):
        w.add("class", "CategoricalCrossentropy", y_true, big, kwargs, activation="softmax",
              note="softmax output carries logits")
        w.add("class", "CategoricalFocalCrossentropy", y_true, big, kwargs,
              activation="softmax", note="softmax output carries logits")
    for kwargs in ({"alpha": 0.5, "gamma": 0.0}, {"gamma": 4.0}, {"label_smoothing": 0.2}):
        w.add("class", "CategoricalFocalCrossentropy", y_true, y_pred, kwargs,
              note="cfce options")

    # sparse categorical cross-entropy
    labels, probs = make_data("sparse", (n, c), rng)
    for kwargs in ({}, {"from_logits": True}):
        pred = logits if kwargs.get("from_logits") else probs
        w.add("class", "SparseCategoricalCrossentropy", labels, pred, kwargs, note="(N,)")
        w.add("class", "SparseCategoricalCrossentropy", labels[:, None], pred, kwargs,
              note="(N,1)")
        w.add("class", "SparseCategoricalCrossentropy", labels.astype(f32)[:, None], pred,
              kwargs, sample_weight=sw, note="float (N,1) labels, 1-D weights")
        w.add("class", "SparseCategoricalCrossentropy", labels.astype(np.int64), pred,
              kwargs, sample_weight=sw[:, None], note="int64 labels, (N,1) weights")
    w.add("class", "SparseCategoricalCrossentropy", labels, unnormalized, {},
          note="unnormalized probabilities")
    for kwargs in ({}, {"from_logits": True}):
        w.add("class", "SparseCategoricalCrossentropy", labels, big, kwargs,
              activation="softmax", note="softmax output carries logits")
    lab3, prob3 = make_data("sparse", (n, t, c), rng)
    sw3 = rng.uniform(0.0, 2.0, size=(n, t)).astype(f32)
    for reduction in ("auto", "sum", "none"):
        w.add("class", "SparseCategoricalCrossentropy", lab3, prob3, {"reduction": reduction},
              sample_weight=sw3, note="temporal")
        w.add("class", "SparseCategoricalCrossentropy", lab3[..., None], prob3,
              {"reduction": reduction}, note="temporal (N,T,1) labels")
    ignore = labels.copy()
    ignore[1] = -1
    ignore3 = lab3.copy()
    ignore3[0, :2] = 255
    ignore3[2, 4] = 255
    for reduction in ("auto", "sum", "none"):
        w.add("class", "SparseCategoricalCrossentropy", ignore, probs,
              {"ignore_class": -1, "reduction": reduction}, note="ignore_class -1")
        w.add("class", "SparseCategoricalCrossentropy", ignore, logits,
              {"ignore_class": -1, "from_logits": True, "reduction": reduction},
              sample_weight=sw, note="ignore_class -1, logits, weights")
        w.add("class", "SparseCategoricalCrossentropy", labels, probs,
              {"ignore_class": 0, "reduction": reduction}, note="ignore_class 0 (in range)")
        w.add("class", "SparseCategoricalCrossentropy", ignore3, prob3,
              {"ignore_class": 255, "reduction": reduction}, sample_weight=sw3,
              note="ignore_class 255, temporal")
        w.add("class", "SparseCategoricalCrossentropy", ignore3[..., None], prob3,
              {"ignore_class": 255, "reduction": reduction}, note="ignore_class, (N,T,1)")
    w.add("function", "sparse_categorical_crossentropy", ignore, probs, {"ignore_class": -1},
          note="fn ignore_class")
    w.add("function", "sparse_categorical_crossentropy", lab3, np.moveaxis(prob3, -1, 1),
          {"axis": 1}, note="fn axis=1")
    w.add("function", "sparse_categorical_crossentropy", lab3, prob3, {"from_logits": True},
          note="fn 3d logits")

    # hinge family: -1/1 labels are used as they are, 0/1 labels converted
    y01, pred = make_data("hinge", (n, c), rng)
    for cls in ("Hinge", "SquaredHinge"):
        w.add("class", cls, 2 * y01 - 1, pred, {}, note="-1/1 labels")
        w.add("class", cls, y01, pred, {}, note="0/1 labels")
        mixed = y01.copy()
        mixed[0, 0] = 0.5
        w.add("class", cls, mixed, pred, {}, note="not all binary: no conversion")
        w.add("class", cls, y01.astype(np.int32), pred, {}, note="int 0/1 labels")
    yh, ph = make_data("categorical_hinge", (n, c), rng)
    w.add("class", "CategoricalHinge", yh.astype(np.int32), ph, {}, note="int labels")

    # huber deltas, cosine axes
    y_true, y_pred = make_data("regression", (n, c), rng)
    for delta in (0.5, 1.0, 2.0, 0.0):
        w.add("class", "Huber", y_true, y_pred, {"delta": delta}, sample_weight=sw,
              note="huber delta")
    y3, p3 = make_data("regression", (n, t, c), rng)
    p3[0, 0] = 0.0  # a zero vector: normalized with the 1e-12 floor
    for axis in (-1, 1, 0):
        w.add("class", "CosineSimilarity", y3, p3, {"axis": axis}, note="cosine axis")
        w.add("function", "cosine_similarity", y3, p3, {"axis": axis}, note="cosine fn axis")

    # rank matching and broadcasting
    y_true, y_pred = make_data("regression", (n, 1), rng)
    for cls in ("MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh"):
        w.add("class", cls, y_true[:, 0], y_pred, {}, note="(N,) vs (N,1): squeezed")
        w.add("class", cls, y_true, y_pred[:, 0], {}, note="(N,1) vs (N,): squeezed")
        w.add("class", cls, y_true, y_pred, {}, sample_weight=sw, note="(N,1) + weights")
    w.add("function", "mean_squared_error", y_true[:, 0], y_pred, note="fn broadcasts")
    w.add("class", "MeanSquaredError", y_true[:1, :1], np.broadcast_to(y_pred, (n, 3)).copy(),
          {}, note="broadcast y_true")
    w.add("class", "MeanSquaredError", y_true.astype(np.float64), y_pred.astype(np.float64),
          {}, sample_weight=sw, note="float64")
    w.add("class", "MeanSquaredError", y_true.astype(np.int32), y_pred, {}, note="int y_true")
    y4, p4 = make_data("regression", (2, 3, 2, 4), rng)
    sw4 = rng.uniform(0.0, 1.0, size=(2, 3, 2)).astype(f32)
    for reduction in ("auto", "sum", "none"):
        w.add("class", "MeanAbsoluteError", y4, p4, {"reduction": reduction},
              sample_weight=sw4, note="4-D with full weights")
        w.add("class", "KLDivergence", np.abs(y4), np.abs(p4), {"reduction": reduction},
              sample_weight=sw4[:, :, :1], note="4-D with broadcast weights")

    # masks on y_pred (as Masking / mask_zero produce)
    y3, p3 = make_data("regression", (n, t, c), rng)
    mask = rng.uniform(size=(n, t)) > 0.35
    for reduction in ("auto", "sum", "none"):
        w.add("class", "MeanSquaredError", y3, p3, {"reduction": reduction}, mask=mask,
              note="masked y_pred")
        w.add("class", "MeanSquaredError", y3, p3, {"reduction": reduction}, mask=mask,
              sample_weight=sw3, note="masked y_pred + temporal weights")
    lab3, prob3 = make_data("sparse", (n, t, c), rng)
    lab3[1, 1] = -1
    w.add("class", "SparseCategoricalCrossentropy", lab3, prob3, {"ignore_class": -1},
          mask=mask, note="mask and ignore_class")


def config_records():
    configs = {}
    for cls in CLASSES:
        entry = {"default": getattr(LOSSES, cls)().get_config()}
        if cls in CONFIG_KWARGS:
            entry["kwargs"] = CONFIG_KWARGS[cls]
            entry["custom"] = getattr(LOSSES, cls)(**CONFIG_KWARGS[cls]).get_config()
        configs[cls] = entry
    return configs


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240607)
    w = Writer()
    grid_cases(w, rng)
    function_cases(w, rng)
    option_cases(w, rng)
    np.savez_compressed(OUT_DIR / "losses.npz", **w.packed())
    cases = ",\n".join(json.dumps(case) for case in w.cases)
    text = (f'{{"keras_version": {json.dumps(keras.__version__)},\n'
            f'"configs": {json.dumps(config_records(), indent=1)},\n"cases": [\n{cases}\n]}}\n')
    json.loads(text)
    (OUT_DIR / "cases.json").write_text(text)
    print(f"wrote {len(w.cases)} cases to {OUT_DIR}")


if __name__ == "__main__":
    main()
