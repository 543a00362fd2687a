"""Confusion-matrix metrics: TruePositives & co., Precision, Recall, AUC.

All of them accumulate, per threshold, the weighted counts of (label, prediction
> threshold) pairs, the way tf.keras 2.x' ``update_confusion_matrix_variables``
does: evenly spaced thresholds (AUC's default, or any evenly spaced list) use
tf.keras' bucket formula ``ceil(y_pred * (T - 1)) - 1`` (so values that fall
exactly on a threshold land in the same bucket as in tf.keras), other
thresholds compare ``y_pred > threshold``.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler import ops
from graphkeras.metrics.base import (Metric, as_tensor, assert_compatible, broadcast_weights,
                                     divide_no_nan, ndim, register, shape_of,
                                     squeeze_or_expand_dimensions)

NEG_INF = -1e10
EPSILON = 1e-7
TP, FP, TN, FN = "tp", "fp", "tn", "fn"


def _to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        bad = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    thresholds = np.asarray(thresholds)
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def filter_top_k(x, k):
    """Keep the ``k`` largest values of the last axis (the lower index wins a tie, as
    ``tf.math.top_k``); set the others to ``NEG_INF``."""
    n = shape_of(x)[-1]
    if n is None:
        raise ValueError("top_k needs a known size of the last axis of y_pred.")
    a = ops.expand_dims(x, -2)  # [..., 1, i]
    b = ops.expand_dims(x, -1)  # [..., j, 1]
    before = np.tril(np.ones((n, n), bool), k=-1)  # [j, i]: i < j
    ahead = ops.logical_or(ops.greater(a, b), ops.logical_and(ops.equal(a, b), before))
    rank = ops.sum(ops.cast(ahead, "int32"), axis=-1)
    mask = ops.cast(ops.less(rank, np.int32(k)), str(x.dtype))
    one = np.ones((), str(x.dtype))
    return ops.add(ops.multiply(x, mask),
                   ops.multiply(np.asarray(NEG_INF, str(x.dtype)), ops.subtract(one, mask)))


def update_confusion_matrix_variables(variables_to_update, y_true, y_pred, thresholds,
                                      top_k=None, class_id=None, sample_weight=None,
                                      multi_label=False, label_weights=None,
                                      thresholds_distributed_evenly=False):
    """Add this batch's per-threshold TP/FP/TN/FN counts to the given variables
    (a dict keyed by ``"tp"``, ``"fp"``, ``"tn"``, ``"fn"``)."""
    if multi_label and label_weights is not None:
        raise ValueError("`label_weights` for multilabel data should be handled outside of "
                         "`update_confusion_matrix_variables` when `multi_label` is True.")
    if not variables_to_update:
        return
    invalid = [k for k in variables_to_update if k not in (TP, FP, TN, FN)]
    if invalid:
        raise ValueError(f'Invalid keys: "{invalid}". Valid variable key options are: '
                         f'"{[TP, FP, TN, FN]}"')
    dtype = next(iter(variables_to_update.values())).dtype
    y_true = as_tensor(y_true, dtype)
    y_pred = as_tensor(y_pred, dtype)
    thresholds = list(thresholds)
    with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    num_thresholds = len(thresholds)
    if sample_weight is None:
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
    else:
        sample_weight = as_tensor(sample_weight, dtype)
        y_pred, y_true, sample_weight = squeeze_or_expand_dimensions(y_pred, y_true,
                                                                     sample_weight)
    assert_compatible(shape_of(y_pred), shape_of(y_true))
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        y_true = ops.getitem(y_true, (Ellipsis, class_id, None))
        y_pred = ops.getitem(y_pred, (Ellipsis, class_id, None))

    one, zero = np.ones((), dtype), np.zeros((), dtype)
    weights = None
    if sample_weight is not None:
        weights = broadcast_weights(sample_weight, y_pred)
    if label_weights is not None:
        lw = broadcast_weights(ops.expand_dims(as_tensor(label_weights, dtype), 0), y_pred)
        weights = lw if weights is None else ops.multiply(weights, lw)
    is_pos = ops.not_equal(y_true, zero)
    if not multi_label:  # every prediction counts on its own
        y_pred, is_pos = ops.reshape(y_pred, (-1,)), ops.reshape(is_pos, (-1,))
        if weights is not None:
            weights = ops.reshape(weights, (-1,))
    # thresholds along a new leading axis: [T, M] or [T, N, L]
    t_shape = (num_thresholds,) + (1,) * ndim(y_pred)
    if thresholds_distributed_evenly:
        pred = ops.clip(y_pred, zero, one)
        bucket = ops.subtract(ops.ceil(ops.multiply(pred, np.asarray(num_thresholds - 1, dtype))),
                              one)
        if with_epsilon:
            bucket = ops.relu(bucket)
        index = np.arange(num_thresholds, dtype=dtype).reshape(t_shape)
        pred_is_pos = ops.greater_equal(ops.expand_dims(bucket, 0), index)
    else:
        thr = np.asarray(thresholds, dtype).reshape(t_shape)
        pred_is_pos = ops.greater(ops.expand_dims(y_pred, 0), thr)
    label = ops.expand_dims(is_pos, 0)
    w = None if weights is None else ops.expand_dims(weights, 0)

    def count(label_cond, pred_cond):
        hits = ops.cast(ops.logical_and(label_cond, pred_cond), dtype)
        if w is not None:
            hits = ops.multiply(hits, w)
        return ops.sum(hits, axis=1)

    label_neg = ops.logical_not(label)
    pred_neg = ops.logical_not(pred_is_pos)
    conditions = {TP: (label, pred_is_pos), FP: (label_neg, pred_is_pos),
                  TN: (label_neg, pred_neg), FN: (label, pred_neg)}
    for key, var in variables_to_update.items():
        var.assign_add(count(*conditions[key]))


# ------------------------------------------------------- condition counters
class _ConfusionMatrixConditionCount(Metric):
    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        self.accumulator = self.add_weight("accumulator", shape=(len(self.thresholds),),
                                           initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables(
            {self._condition: self.accumulator}, y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight)

    def result(self):
        if len(self.thresholds) == 1:
            return ops.getitem(self.accumulator, 0)
        return ops.add(self.accumulator, np.zeros((), self._dtype))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


@register()
class TruePositives(_ConfusionMatrixConditionCount):
    _condition = TP


@register()
class FalsePositives(_ConfusionMatrixConditionCount):
    _condition = FP


@register()
class TrueNegatives(_ConfusionMatrixConditionCount):
    _condition = TN


@register()
class FalseNegatives(_ConfusionMatrixConditionCount):
    _condition = FN


# ---------------------------------------------------------- precision/recall
class _PrecisionRecall(Metric):
    _second = None  # "false_positives" or "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=default)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        n = len(self.thresholds)
        self.true_positives = self.add_weight("true_positives", shape=(n,), initializer="zeros")
        setattr(self, self._second,
                self.add_weight(self._second, shape=(n,), initializer="zeros"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        second = FP if self._second == "false_positives" else FN
        update_confusion_matrix_variables(
            {TP: self.true_positives, second: getattr(self, self._second)}, y_true, y_pred,
            thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            top_k=self.top_k, class_id=self.class_id, sample_weight=sample_weight)

    def result(self):
        tp = self.true_positives
        value = divide_no_nan(tp, ops.add(tp, getattr(self, self._second)))
        return ops.getitem(value, 0) if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


@register()
class Precision(_PrecisionRecall):
    """``tp / (tp + fp)`` at each threshold (optionally for the top-k or one class)."""
    _second = "false_positives"


@register()
class Recall(_PrecisionRecall):
    """``tp / (tp + fn)`` at each threshold (optionally for the top-k or one class)."""
    _second = "false_negatives"


# ------------------------------------------------------------------------ AUC
_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR", "pr_gain": "PR_GAIN",
           "prgain": "PR_GAIN", "PR_GAIN": "PR_GAIN", "PRGAIN": "PR_GAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation",
               "majoring": "majoring", "Majoring": "majoring",
               "minoring": "minoring", "Minoring": "minoring"}


@register()
class AUC(Metric):
    """Area under the ROC or PR curve, from TP/FP/TN/FN counts at ``num_thresholds``
    thresholds (``-epsilon``, evenly spaced ones, ``1 + epsilon``)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve = getattr(curve, "value", curve)
        summation_method = getattr(summation_method, "value", summation_method)
        if curve not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             '["PR", "ROC", "PR_GAIN"]')
        if summation_method not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(float(t) for t in thresholds)
            self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
                np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = np.array([0.0 - EPSILON] + thresholds + [1.0 + EPSILON])
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        self.multi_label = multi_label
        self._from_logits = from_logits
        if label_weights is not None:
            label_weights = np.asarray(label_weights, self._dtype)
            if np.any(label_weights < 0):
                raise ValueError("All values of `label_weights` must be non-negative.")
        self.label_weights = label_weights
        self._built = False
        self._num_labels = num_labels
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return [float(t) for t in self._thresholds]

    @property
    def num_labels(self):
        return self._num_labels

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError("`y_pred` must have rank 2 when `multi_label=True`. "
                                 f"Found rank {len(shape)}. Full shape received for "
                                 f"`y_pred`: {tuple(shape)}")
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self.true_positives = self.add_weight("true_positives", shape=var_shape)
        self.true_negatives = self.add_weight("true_negatives", shape=var_shape)
        self.false_positives = self.add_weight("false_positives", shape=var_shape)
        self.false_negatives = self.add_weight("false_negatives", shape=var_shape)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_tensor(y_pred)
        if not self._built:
            self._build(shape_of(y_pred))
        if self.multi_label or self.label_weights is not None:
            t_shape = shape_of(y_true)
            num_labels = self._num_labels if self.multi_label else len(self.label_weights)
            if len(t_shape) != 2 or t_shape[1] not in (None, num_labels):
                raise ValueError("Number of labels is not consistent.")
        label_weights = None if self.multi_label else self.label_weights
        if self._from_logits:
            y_pred = ops.sigmoid(as_tensor(y_pred, self._dtype))
        update_confusion_matrix_variables(
            {TP: self.true_positives, TN: self.true_negatives,
             FP: self.false_positives, FN: self.false_negatives},
            y_true, y_pred, self._thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=label_weights)

    def _average(self, by_label_terms):
        by_label = ops.sum(by_label_terms, axis=0)
        if not self.multi_label:
            return by_label
        if self.label_weights is None:
            return ops.mean(by_label)
        return divide_no_nan(ops.sum(ops.multiply(by_label, self.label_weights)),
                             np.sum(self.label_weights, dtype=self._dtype))

    def interpolate_pr_auc(self):
        """PR AUC interpolating TP and P = TP + FP linearly between thresholds (Davis &
        Goadrich 2006), integrated in closed form."""
        n = self.num_thresholds
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        head = lambda v: ops.getitem(v, slice(None, n - 1))  # noqa: E731
        tail = lambda v: ops.getitem(v, slice(1, None))  # noqa: E731
        zero = np.zeros((), self._dtype)
        dtp = ops.subtract(head(tp), tail(tp))
        p = ops.add(tp, fp)
        dp = ops.subtract(head(p), tail(p))
        slope = divide_no_nan(dtp, ops.maximum(dp, zero))
        intercept = ops.subtract(tail(tp), ops.multiply(slope, tail(p)))
        both = ops.logical_and(ops.greater(head(p), zero), ops.greater(tail(p), zero))
        ratio = ops.where(both, divide_no_nan(head(p), ops.maximum(tail(p), zero)),
                          np.ones((), self._dtype))
        increment = divide_no_nan(
            ops.multiply(slope, ops.add(dtp, ops.multiply(intercept, ops.log(ratio)))),
            ops.maximum(ops.add(tail(tp), tail(fn)), zero))
        return self._average(increment)

    def result(self):
        if not self._built:  # multi_label with the number of labels still unknown
            return np.zeros((), self._dtype)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        n = self.num_thresholds
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        one = np.ones((), self._dtype)
        recall = divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, ops.add(fp, tn)), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, ops.add(tp, fp))
        else:  # PR_GAIN
            scale = divide_no_nan(ops.add(tp, fn), ops.add(fp, tn))
            no_tp = ops.equal(tp, np.zeros((), self._dtype))
            recall_gain = ops.subtract(one, ops.multiply(scale, divide_no_nan(fn, tp)))
            precision_gain = ops.subtract(one, ops.multiply(scale, divide_no_nan(fp, tp)))
            recall_gain = ops.where(no_tp, np.zeros((), self._dtype), recall_gain)
            precision_gain = ops.where(no_tp, one, precision_gain)
            x, y = ops.maximum(recall_gain, np.zeros((), self._dtype)), precision_gain
        head = lambda v: ops.getitem(v, slice(None, n - 1))  # noqa: E731
        tail = lambda v: ops.getitem(v, slice(1, None))  # noqa: E731
        if self.summation_method == "interpolation":
            heights = ops.divide(ops.add(head(y), tail(y)), np.asarray(2.0, self._dtype))
        elif self.summation_method == "minoring":
            heights = ops.minimum(head(y), tail(y))
        else:
            heights = ops.maximum(head(y), tail(y))
        return self._average(ops.multiply(ops.subtract(head(x), tail(x)), heights))

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        label_weights = None if self.label_weights is None else self.label_weights.tolist()
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

