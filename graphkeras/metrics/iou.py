"""``MeanIoU``: mean intersection-over-union from an accumulated confusion matrix."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler import ops
from graphkeras.metrics.base import Metric, as_tensor, divide_no_nan, ndim, register


@register()
class MeanIoU(Metric):
    """Mean over classes of ``tp / (tp + fp + fn)``, ignoring classes that never occur
    in labels or predictions. Rows of the confusion matrix are labels, columns
    predictions."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.target_class_ids = list(range(num_classes))
        self.total_cm = self.add_weight("total_confusion_matrix",
                                        shape=(num_classes, num_classes), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        y_true = ops.cast(y_true, self._dtype)
        y_pred = ops.cast(y_pred, self._dtype)
        if ndim(y_pred) != 1:
            y_pred = ops.reshape(y_pred, (-1,))
        if ndim(y_true) != 1:
            y_true = ops.reshape(y_true, (-1,))
        weight = None
        if sample_weight is not None:
            weight = as_tensor(sample_weight, self._dtype)
            if ndim(weight) > 1:
                weight = ops.reshape(weight, (-1,))
        if self.ignore_class is not None:
            valid = ops.cast(ops.not_equal(y_true, np.asarray(self.ignore_class, self._dtype)),
                             self._dtype)
            weight = valid if weight is None else ops.multiply(weight, valid)
        classes = np.arange(self.num_classes, dtype=np.int64)
        true_hot = ops.cast(ops.equal(ops.expand_dims(ops.cast(y_true, "int64"), -1), classes),
                            self._dtype)
        pred_hot = ops.cast(ops.equal(ops.expand_dims(ops.cast(y_pred, "int64"), -1), classes),
                            self._dtype)
        if weight is not None:
            true_hot = ops.multiply(true_hot, ops.expand_dims(weight, -1)
                                    if ndim(weight) == 1 else weight)
        self.total_cm.assign_add(ops.matmul(ops.transpose(true_hot), pred_hot))

    def result(self):
        cm = self.total_cm
        eye = np.eye(self.num_classes, dtype=self._dtype)
        sum_over_row = ops.sum(cm, axis=0)
        sum_over_col = ops.sum(cm, axis=1)
        true_positives = ops.sum(ops.multiply(cm, eye), axis=1)
        denominator = ops.subtract(ops.add(sum_over_row, sum_over_col), true_positives)
        if self.target_class_ids != list(range(self.num_classes)):
            ids = np.asarray(self.target_class_ids, np.int64)
            true_positives = ops.take(true_positives, ids)
            denominator = ops.take(denominator, ids)
        zero = np.zeros((), self._dtype)
        num_valid = ops.sum(ops.cast(ops.not_equal(denominator, zero), self._dtype))
        iou = divide_no_nan(true_positives, denominator)
        return divide_no_nan(ops.sum(iou), num_valid)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
