"""Hinge losses (maximum-margin classification): hinge, squared hinge and
categorical hinge."""
from __future__ import annotations

from graphkeras.compiler import ops
from graphkeras.losses.base import LossFunctionWrapper, Reduction, _prepare, _register


def _maybe_convert_labels(y_true):
    """Labels that are all 0 or 1 become -1/1 (hinge losses)."""
    binary = ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0))
    all_binary = ops.greater(ops.min(ops.cast(binary, "float32")), 0.5)
    return ops.where(all_binary, ops.subtract(ops.multiply(2.0, y_true), 1.0), y_true)


def _margin(y_true, y_pred):
    """``maximum(1 - y_true * y_pred, 0)``, with 0/1 labels made -1/1."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    return ops.maximum(ops.subtract(1.0, ops.multiply(y_true, y_pred)), 0.0)


@_register("squared_hinge")
def squared_hinge(y_true, y_pred):
    return ops.mean(ops.square(_margin(y_true, y_pred)), axis=-1)


@_register("hinge")
def hinge(y_true, y_pred):
    return ops.mean(_margin(y_true, y_pred), axis=-1)


@_register("categorical_hinge")
def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


@_register("Hinge")
class Hinge(LossFunctionWrapper):
    """``mean(maximum(1 - y_true * y_pred, 0))``; 0/1 labels become -1/1."""

    def __init__(self, reduction=Reduction.AUTO, name="hinge"):
        super().__init__(hinge, name=name, reduction=reduction)


@_register("SquaredHinge")
class SquaredHinge(LossFunctionWrapper):
    """``mean(square(maximum(1 - y_true * y_pred, 0)))``; 0/1 labels become -1/1."""

    def __init__(self, reduction=Reduction.AUTO, name="squared_hinge"):
        super().__init__(squared_hinge, name=name, reduction=reduction)


@_register("CategoricalHinge")
class CategoricalHinge(LossFunctionWrapper):
    """``maximum(neg - pos + 1, 0)``: ``pos = sum(y_true * y_pred)``,
    ``neg = max((1 - y_true) * y_pred)``."""

    def __init__(self, reduction=Reduction.AUTO, name="categorical_hinge"):
        super().__init__(categorical_hinge, name=name, reduction=reduction)
