"""Regression losses: mean squared/absolute (percentage/logarithmic) errors,
Huber, log-cosh and cosine similarity."""
from __future__ import annotations

import numpy as np

from graphkeras import backend
from graphkeras.compiler import ops
from graphkeras.losses.base import (
    LossFunctionWrapper, Reduction, _const, _dtype, _prepare, _register, _to_tensor)


@_register("mean_squared_error", "mse", "MSE")
def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


@_register("mean_absolute_error", "mae", "MAE")
def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


@_register("mean_absolute_percentage_error", "mape", "MAPE")
def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    denom = ops.maximum(ops.abs(y_true), backend.epsilon())
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred), denom))
    return ops.multiply(100.0, ops.mean(diff, axis=-1))


@_register("mean_squared_logarithmic_error", "msle", "MSLE")
def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    eps = backend.epsilon()
    first_log = ops.log(ops.add(ops.maximum(y_pred, eps), 1.0))
    second_log = ops.log(ops.add(ops.maximum(y_true, eps), 1.0))
    return ops.mean(ops.square(ops.subtract(first_log, second_log)), axis=-1)


@_register("huber", "huber_loss")
def huber(y_true, y_pred, delta=1.0):
    floatx = backend.floatx()
    y_pred = ops.cast(_to_tensor(y_pred), floatx)
    y_true = ops.cast(_to_tensor(y_true), floatx)
    delta = _const(delta, floatx)
    half = _const(0.5, floatx)
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    quadratic = ops.multiply(half, ops.square(error))
    linear = ops.subtract(ops.multiply(delta, abs_error), half * np.square(delta))
    return ops.mean(ops.where(ops.less_equal(abs_error, delta), quadratic, linear), axis=-1)


@_register("log_cosh", "logcosh")
def log_cosh(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    log2 = np.log(_const(2.0, _dtype(x)))
    return ops.mean(ops.subtract(ops.add(x, ops.softplus(ops.multiply(-2.0, x))), log2), axis=-1)


logcosh = log_cosh


def _l2_normalize(x, axis):
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(square_sum, 1e-12)))


@_register("cosine_similarity")
def cosine_similarity(y_true, y_pred, axis=-1):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _l2_normalize(y_true, axis)
    y_pred = _l2_normalize(y_pred, axis)
    return ops.negative(ops.sum(ops.multiply(y_true, y_pred), axis=axis))


@_register("MeanSquaredError")
class MeanSquaredError(LossFunctionWrapper):
    """Mean of squares of errors between labels and predictions."""

    def __init__(self, reduction=Reduction.AUTO, name="mean_squared_error"):
        super().__init__(mean_squared_error, name=name, reduction=reduction)


@_register("MeanAbsoluteError")
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute differences between labels and predictions."""

    def __init__(self, reduction=Reduction.AUTO, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name, reduction=reduction)


@_register("MeanAbsolutePercentageError")
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``100 * mean(abs((y_true - y_pred) / y_true))``."""

    def __init__(self, reduction=Reduction.AUTO, name="mean_absolute_percentage_error"):
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction)


@_register("MeanSquaredLogarithmicError")
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """``mean(square(log(y_pred + 1) - log(y_true + 1)))``."""

    def __init__(self, reduction=Reduction.AUTO, name="mean_squared_logarithmic_error"):
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction)


@_register("LogCosh")
class LogCosh(LossFunctionWrapper):
    """``mean(log(cosh(y_pred - y_true)))``."""

    def __init__(self, reduction=Reduction.AUTO, name="log_cosh"):
        super().__init__(log_cosh, name=name, reduction=reduction)


@_register("Huber")
class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction=Reduction.AUTO, name="huber_loss"):
        super().__init__(huber, name=name, reduction=reduction, delta=delta)


@_register("CosineSimilarity")
class CosineSimilarity(LossFunctionWrapper):
    def __init__(self, axis=-1, reduction=Reduction.AUTO, name="cosine_similarity"):
        super().__init__(cosine_similarity, reduction=reduction, name=name, axis=axis)


# aliases, as tf.keras.losses has them
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
huber_loss = huber
