"""Generate reference fixtures for ``graphkeras.metrics`` from real tf.keras 2.x.

Each metric case feeds a freshly built tf.keras metric 2-3 batches of fixed data
through ``update_state`` and records ``result()`` after every update. Function
cases (``keras.metrics.binary_accuracy`` ...) record the per-sample output.

Writes into ``tests/fixtures/metrics/``:

``<case>.npz``
    metric cases: ``y_true0, y_pred0, sw0, ...`` (or ``values0, sw0, ...`` for
    ``Mean``/``Sum``; ``sw<i>`` only when weighted), ``result0, result1, ...`` and
    ``var0, var1, ...`` (the metric's variables after the last update);
    function cases: ``y_true, y_pred, out``.
``cases.json``
    ``{case: {"kind": "metric" | "function", "class_name" | "function", "kwargs",
    "updates", "weighted", "config", "variables": [[name, shape], ...]}}``
    ``config`` is tf.keras' ``get_config()`` of the metric as first built.

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_metric_fixtures.py
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

M = keras.metrics
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"
F32 = np.float32
BATCHES = (4, 5, 3)


# ------------------------------------------------------------------ data makers
# each maker: (rng, batch) -> (y_true, y_pred)
def binary(classes=3, grid=False):
    def make(rng, b):
        y_true = rng.integers(0, 2, size=(b, classes)).astype(F32)
        if grid:  # values on the threshold grid (and its ends) test the bucket boundaries
            y_pred = rng.integers(0, 11, size=(b, classes)).astype(F32) / F32(10)
        else:
            y_pred = rng.uniform(0, 1, size=(b, classes)).astype(F32)
            y_pred.flat[0] = 0.5
        return y_true, y_pred
    return make


def binary_1d(rng, b):
    return rng.integers(0, 2, size=(b,)).astype(F32), rng.uniform(0, 1, size=(b,)).astype(F32)


def binary_col(rng, b):
    y_true, y_pred = binary_1d(rng, b)
    return y_true[:, None], y_pred[:, None]


def logits(classes=3):
    def make(rng, b):
        return (rng.integers(0, 2, size=(b, classes)).astype(F32),
                rng.normal(0, 2, size=(b, classes)).astype(F32))
    return make


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(F32)


def categorical(classes=4, from_logits=False, ties=False):
    def make(rng, b):
        y_true = np.eye(classes, dtype=F32)[rng.integers(0, classes, size=b)]
        z = rng.normal(0, 1.5, size=(b, classes)).astype(F32)
        if ties:  # some rows with equal scores
            z[0, :] = 0.0
            z[1, 1:3] = z[1, 0]
        return y_true, (z if from_logits else _softmax(z))
    return make


def sparse(classes=4, column=False, from_logits=False, ties=False, seq=None):
    def make(rng, b):
        shape = (b,) if seq is None else (b, seq)
        labels = rng.integers(0, classes, size=shape)
        z = rng.normal(0, 1.5, size=shape + (classes,)).astype(F32)
        if ties:
            z[0, ...] = 0.0
        y_true = labels.astype(F32)
        if column:
            y_true = y_true[..., None]
        return y_true, (z if from_logits else _softmax(z))
    return make


def regression(shape=(3,), positive=False):
    def make(rng, b):
        y_true = rng.normal(0, 1, size=(b,) + shape).astype(F32)
        y_pred = (y_true + rng.normal(0, 0.7, size=(b,) + shape)).astype(F32)
        if positive:
            y_true, y_pred = np.abs(y_true) + F32(0.1), np.abs(y_pred) + F32(0.05)
        return y_true, y_pred
    return make


def hinge_data(signed):
    def make(rng, b):
        y_true = rng.integers(0, 2, size=(b, 3)).astype(F32)
        if signed:
            y_true = 2 * y_true - 1
        return y_true, rng.normal(0, 1.2, size=(b, 3)).astype(F32)
    return make


def probs(classes=4):
    def make(rng, b):
        return (_softmax(rng.normal(size=(b, classes))),
                _softmax(rng.normal(size=(b, classes))))
    return make


def ints(classes=3):
    def make(rng, b):
        return (rng.integers(0, classes, size=(b, 2)).astype(F32),
                rng.integers(0, classes, size=(b, 2)).astype(F32))
    return make


def seg(classes=3, dense_pred=False):
    def make(rng, b):
        y_true = rng.integers(0, classes, size=(b, 2, 2)).astype(F32)
        if dense_pred:
            return y_true, _softmax(rng.normal(size=(b, 2, 2, classes)))
        return y_true, rng.integers(0, classes, size=(b, 2, 2)).astype(F32)
    return make


def values(shape):
    def make(rng, b):
        return None, rng.normal(0, 2, size=(b,) + shape).astype(F32)
    return make


# sample weights: (rng, batch, y_pred) -> array
def sw_batch(rng, b, y):
    return rng.uniform(0, 2, size=(b,)).astype(F32)


def sw_col(rng, b, y):
    return rng.uniform(0, 2, size=(b, 1)).astype(F32)


def sw_full(rng, b, y):
    return rng.uniform(0, 2, size=y.shape).astype(F32)


def sw_scalar(rng, b, y):
    return np.asarray(rng.uniform(0.5, 2), F32)


def sw_zero_first(rng, b, y):
    w = rng.uniform(0, 2, size=(b,)).astype(F32)
    w[0] = 0
    return w


# (case, class name, kwargs, data maker, sample-weight maker or None)
CASES = [
    ("mean_1d", "Mean", {}, values(()), None),
    ("mean_1d_w", "Mean", {}, values(()), sw_batch),
    ("mean_2d_wbatch", "Mean", {}, values((3,)), sw_batch),
    ("mean_2d_wfull", "Mean", {}, values((3,)), sw_full),
    ("mean_2d_wscalar", "Mean", {}, values((3,)), sw_scalar),
    ("mean_3d_wbatch", "Mean", {}, values((2, 3)), sw_batch),
    ("mean_3d_wcol", "Mean", {}, values((2, 3)), sw_col),
    ("mean_named_f64", "Mean", {"name": "my_mean", "dtype": "float64"}, values((2,)), None),
    ("sum_2d", "Sum", {}, values((3,)), None),
    ("sum_3d_wbatch", "Sum", {}, values((2, 3)), sw_batch),
    ("sum_2d_wfull", "Sum", {}, values((3,)), sw_full),

    ("accuracy", "Accuracy", {}, ints(), None),
    ("accuracy_w", "Accuracy", {}, ints(), sw_batch),
    ("binary_accuracy", "BinaryAccuracy", {}, binary(), None),
    ("binary_accuracy_w", "BinaryAccuracy", {}, binary(), sw_batch),
    ("binary_accuracy_t07_wfull", "BinaryAccuracy", {"threshold": 0.7}, binary(), sw_full),
    ("binary_accuracy_1d", "BinaryAccuracy", {}, binary_1d, sw_batch),
    ("categorical_accuracy", "CategoricalAccuracy", {}, categorical(ties=True), None),
    ("categorical_accuracy_w", "CategoricalAccuracy", {}, categorical(), sw_batch),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy", {}, sparse(), None),
    ("sparse_categorical_accuracy_col_w", "SparseCategoricalAccuracy", {},
     sparse(column=True), sw_batch),
    ("sparse_categorical_accuracy_seq", "SparseCategoricalAccuracy", {}, sparse(seq=3),
     sw_batch),
    ("top_k_k2", "TopKCategoricalAccuracy", {"k": 2}, categorical(ties=True), None),
    ("top_k_default_w", "TopKCategoricalAccuracy", {}, categorical(classes=7), sw_batch),
    ("sparse_top_k_k2", "SparseTopKCategoricalAccuracy", {"k": 2}, sparse(ties=True), None),
    ("sparse_top_k_k2_col_w", "SparseTopKCategoricalAccuracy", {"k": 2}, sparse(column=True),
     sw_batch),
    ("sparse_top_k_seq", "SparseTopKCategoricalAccuracy", {"k": 2}, sparse(seq=3), None),

    ("auc_roc", "AUC", {}, binary(), None),
    ("auc_roc_w", "AUC", {}, binary(), sw_batch),
    ("auc_roc_wfull", "AUC", {}, binary(), sw_full),
    ("auc_roc_grid11", "AUC", {"num_thresholds": 11}, binary(grid=True), None),
    ("auc_pr", "AUC", {"curve": "PR"}, binary(), sw_batch),
    ("auc_pr_grid11", "AUC", {"curve": "PR", "num_thresholds": 11}, binary(grid=True), None),
    ("auc_roc_minoring", "AUC", {"summation_method": "minoring", "num_thresholds": 50},
     binary(), None),
    ("auc_pr_majoring", "AUC", {"curve": "PR", "summation_method": "majoring"}, binary(),
     sw_batch),
    ("auc_pr_gain", "AUC", {"curve": "PR_GAIN", "num_thresholds": 30}, binary(), None),
    ("auc_thresholds", "AUC", {"thresholds": [0.2, 0.45, 0.7]}, binary(grid=True), sw_batch),
    ("auc_thresholds_even", "AUC", {"thresholds": [0.25, 0.5, 0.75]}, binary(grid=True), None),
    ("auc_multi_label", "AUC", {"multi_label": True}, binary(), None),
    ("auc_multi_label_w_lw", "AUC", {"multi_label": True, "num_labels": 3,
                                     "label_weights": [0.5, 1.0, 2.0]}, binary(), sw_batch),
    ("auc_multi_label_pr_thresholds", "AUC", {"multi_label": True, "curve": "PR",
                                              "thresholds": [0.3, 0.6]}, binary(), None),
    ("auc_label_weights", "AUC", {"label_weights": [1.0, 0.0, 3.0]}, binary(), sw_batch),
    ("auc_from_logits", "AUC", {"from_logits": True, "num_thresholds": 100}, logits(),
     sw_batch),

    ("precision", "Precision", {}, binary(), None),
    ("precision_w", "Precision", {}, binary(), sw_batch),
    ("precision_thresholds", "Precision", {"thresholds": [0.3, 0.5, 0.8]}, binary(grid=True),
     sw_full),
    ("precision_thresholds_even", "Precision", {"thresholds": [0.0, 0.5, 1.0]},
     binary(grid=True), None),
    ("precision_top_k", "Precision", {"top_k": 2}, binary(classes=4), None),
    ("precision_class_id", "Precision", {"class_id": 1}, binary(), sw_batch),
    ("precision_top_k_class_id", "Precision", {"top_k": 1, "class_id": 2}, binary(), None),
    ("recall", "Recall", {}, binary(), None),
    ("recall_w", "Recall", {"thresholds": 0.3}, binary(), sw_batch),
    ("recall_thresholds_even", "Recall", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]},
     binary(grid=True), sw_batch),
    ("recall_top_k_class_id", "Recall", {"top_k": 2, "class_id": 0}, binary(classes=4),
     sw_batch),
    ("true_positives", "TruePositives", {}, binary(), None),
    ("true_negatives_w", "TrueNegatives", {}, binary(), sw_batch),
    ("false_positives_thresholds", "FalsePositives", {"thresholds": [0.15, 0.5, 0.85]},
     binary(), None),
    ("false_negatives_w", "FalseNegatives", {"thresholds": [0.3, 0.6]}, binary(), sw_full),
    ("true_positives_1d", "TruePositives", {}, binary_1d, sw_batch),
    ("true_positives_col", "TruePositives", {}, binary_col, sw_batch),

    ("mse", "MeanSquaredError", {}, regression(), None),
    ("mse_w", "MeanSquaredError", {}, regression(), sw_batch),
    ("mse_3d_w", "MeanSquaredError", {}, regression((2, 3)), sw_batch),
    ("mse_col_w", "MeanSquaredError", {}, regression((1,)), sw_batch),
    ("mae_w", "MeanAbsoluteError", {}, regression(), sw_zero_first),
    ("mape", "MeanAbsolutePercentageError", {}, regression(), sw_batch),
    ("msle", "MeanSquaredLogarithmicError", {}, regression(positive=True), sw_batch),
    ("rmse", "RootMeanSquaredError", {}, regression(), None),
    ("rmse_w", "RootMeanSquaredError", {}, regression(), sw_batch),
    ("rmse_wfull", "RootMeanSquaredError", {}, regression(), sw_full),
    ("logcosh", "LogCoshError", {}, regression(), sw_batch),
    ("cosine", "CosineSimilarity", {}, regression(), sw_batch),
    ("cosine_axis1", "CosineSimilarity", {"axis": 1}, regression((3, 2)), None),
    ("hinge01", "Hinge", {}, hinge_data(False), sw_batch),
    ("hinge_signed", "Hinge", {}, hinge_data(True), None),
    ("squared_hinge", "SquaredHinge", {}, hinge_data(True), sw_batch),
    ("categorical_hinge", "CategoricalHinge", {}, categorical(), sw_batch),
    ("kld", "KLDivergence", {}, probs(), sw_batch),
    ("poisson", "Poisson", {}, regression(positive=True), sw_batch),

    ("bce", "BinaryCrossentropy", {}, binary(), None),
    ("bce_w", "BinaryCrossentropy", {}, binary(), sw_batch),
    ("bce_logits_ls", "BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     logits(), sw_batch),
    ("bce_ls", "BinaryCrossentropy", {"label_smoothing": 0.2}, binary(), None),
    ("cce", "CategoricalCrossentropy", {}, categorical(), None),
    ("cce_w", "CategoricalCrossentropy", {}, categorical(), sw_batch),
    ("cce_logits_ls", "CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     categorical(from_logits=True), sw_batch),
    ("scce", "SparseCategoricalCrossentropy", {}, sparse(), None),
    ("scce_col_w", "SparseCategoricalCrossentropy", {}, sparse(column=True), sw_batch),
    ("scce_logits", "SparseCategoricalCrossentropy", {"from_logits": True},
     sparse(from_logits=True), sw_batch),
    ("scce_seq_w", "SparseCategoricalCrossentropy", {}, sparse(seq=3), sw_batch),
    ("scce_ignore", "SparseCategoricalCrossentropy", {"ignore_class": 1}, sparse(seq=3),
     None),
    ("scce_ignore_w", "SparseCategoricalCrossentropy", {"ignore_class": 0, "from_logits": True},
     sparse(from_logits=True), sw_batch),

    ("mean_iou", "MeanIoU", {"num_classes": 3}, seg(), None),
    ("mean_iou_w", "MeanIoU", {"num_classes": 3}, seg(), sw_full),
    ("mean_iou_ignore_dense", "MeanIoU", {"num_classes": 3, "ignore_class": 2,
                                          "sparse_y_pred": False}, seg(dense_pred=True), None),
]

# (case, function name, kwargs, data maker)
FUNCTION_CASES = [
    ("fn_accuracy", "accuracy", {}, ints()),
    ("fn_binary_accuracy", "binary_accuracy", {}, binary()),
    ("fn_binary_accuracy_t", "binary_accuracy", {"threshold": 0.3}, binary()),
    ("fn_categorical_accuracy", "categorical_accuracy", {}, categorical(ties=True)),
    ("fn_sparse_categorical_accuracy", "sparse_categorical_accuracy", {}, sparse(column=True)),
    ("fn_top_k", "top_k_categorical_accuracy", {"k": 2}, categorical(ties=True)),
    ("fn_sparse_top_k", "sparse_top_k_categorical_accuracy", {"k": 3}, sparse()),
    ("fn_mse", "mean_squared_error", {}, regression()),
    ("fn_mae", "mean_absolute_error", {}, regression()),
    ("fn_mape", "mean_absolute_percentage_error", {}, regression()),
    ("fn_msle", "mean_squared_logarithmic_error", {}, regression(positive=True)),
    ("fn_logcosh", "log_cosh", {}, regression()),
    ("fn_hinge", "hinge", {}, hinge_data(False)),
    ("fn_squared_hinge", "squared_hinge", {}, hinge_data(True)),
    ("fn_kld", "kl_divergence", {}, probs()),
    ("fn_poisson", "poisson", {}, regression(positive=True)),
    ("fn_cosine", "cosine_similarity", {}, regression()),
    ("fn_bce", "binary_crossentropy", {}, binary()),
    ("fn_bce_logits", "binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1},
     logits()),
    ("fn_cce", "categorical_crossentropy", {"label_smoothing": 0.1}, categorical()),
    ("fn_cce_logits", "categorical_crossentropy", {"from_logits": True},
     categorical(from_logits=True)),
    ("fn_scce", "sparse_categorical_crossentropy", {}, sparse()),
    ("fn_scce_logits", "sparse_categorical_crossentropy", {"from_logits": True},
     sparse(from_logits=True, seq=2)),
]


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def make_metric_case(name, class_name, kwargs, maker, weights, rng):
    keras.backend.clear_session()
    metric = getattr(M, class_name)(**kwargs)
    config = _jsonable(metric.get_config())
    arrays = {}
    for i, b in enumerate(BATCHES):
        y_true, y_pred = maker(rng, b)
        sw = weights(rng, b, y_pred) if weights is not None else None
        if class_name in ("Mean", "Sum"):
            arrays[f"values{i}"] = y_pred
            metric.update_state(y_pred, sample_weight=sw)
        else:
            arrays[f"y_true{i}"], arrays[f"y_pred{i}"] = y_true, y_pred
            metric.update_state(y_true, y_pred, sample_weight=sw)
        if sw is not None:
            arrays[f"sw{i}"] = sw
        arrays[f"result{i}"] = np.asarray(metric.result().numpy())
    for j, v in enumerate(metric.variables):
        arrays[f"var{j}"] = v.numpy()
    np.savez_compressed(OUT_DIR / f"{name}.npz", **arrays)
    return {"kind": "metric", "class_name": class_name, "kwargs": kwargs,
            "updates": len(BATCHES), "weighted": weights is not None, "config": config,
            "variables": [[v.name.split(":")[0], list(v.shape)] for v in metric.variables]}


def make_function_case(name, fn_name, kwargs, maker, rng):
    y_true, y_pred = maker(rng, 5)
    fn = getattr(M, fn_name, None) or M.get(fn_name)
    out = fn(tf.constant(y_true), tf.constant(y_pred), **kwargs)
    np.savez_compressed(OUT_DIR / f"{name}.npz", y_true=y_true, y_pred=y_pred, out=np.asarray(out))
    return {"kind": "function", "function": fn_name, "kwargs": kwargs}


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")):
        old.unlink()
    rng = np.random.default_rng(2024)
    index = {}
    for case in CASES:
        index[case[0]] = make_metric_case(*case, rng)
    for case in FUNCTION_CASES:
        index[case[0]] = make_function_case(*case, rng)
    index["_meta"] = {"keras_version": keras.__version__, "batches": list(BATCHES)}
    (OUT_DIR / "cases.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(index) - 1} cases to {OUT_DIR}")


if __name__ == "__main__":
    main()
