"""Metric functions ``fn(y_true, y_pred) -> per-sample values`` (tf.keras' formulas).

These are what ``gk.metrics.get("mse")`` & co. return and what the
``MeanMetricWrapper`` classes average. Each is written with
``graphkeras.compiler.ops``, so it runs on numpy and traces into graphs.
The loss-like ones use tf.keras' exact formulas (epsilon 1e-7 clipping,
``from_logits``, ``label_smoothing``, the logits behind a sigmoid/softmax
output when one is known).
"""
from __future__ import annotations

import warnings

import numpy as np

from graphkeras.compiler import ops
from graphkeras.compiler.primitive import Tensor
from graphkeras.metrics.base import as_tensor, assert_compatible, ndim, register, shape_of

EPSILON = 1e-7


def _const(value, like):
    return np.asarray(value, dtype=np.dtype(str(like.dtype)))


def _float_pair(y_true, y_pred):
    """``y_pred`` as a tensor and ``y_true`` cast to its dtype (tf's convention)."""
    y_pred = as_tensor(y_pred)
    if not str(y_pred.dtype).startswith("float"):
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(as_tensor(y_true), str(y_pred.dtype))
    return y_true, y_pred


# ------------------------------------------------------------ accuracy family
def binary_matches(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold)`` equals ``y_true``, elementwise."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true)
    y_pred = ops.cast(ops.greater(y_pred, _const(threshold, y_pred)), str(y_pred.dtype))
    if str(y_true.dtype) != str(y_pred.dtype):
        y_true = ops.cast(y_true, str(y_pred.dtype))
    return ops.cast(ops.equal(y_true, y_pred), "float32")


def sparse_categorical_matches(y_true, y_pred):
    """1.0 where ``argmax(y_pred)`` equals the integer label ``y_true``."""
    y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
    true_shape = shape_of(y_true)
    reshape = False
    if ndim(y_true) == ndim(y_pred):
        y_true = ops.squeeze(y_true, -1)
        reshape = True
    pred = ops.argmax(y_pred, axis=-1)
    if str(pred.dtype) != str(y_true.dtype):
        pred = ops.cast(pred, str(y_true.dtype))
    matches = ops.cast(ops.equal(y_true, pred), "float32")
    if reshape:
        matches = _reshape_to(matches, true_shape)
    return matches


def _reshape_to(x, shape):
    if None not in shape:
        return ops.reshape(x, shape)
    if None not in shape[1:]:
        return ops.reshape(x, (-1,) + tuple(shape[1:]))
    return ops.expand_dims(x, -1)  # only used to restore a squeezed trailing 1


def _in_top_k(predictions, targets, k):
    """tf.math.in_top_k: the target's score is among the k largest (ties count as in;
    a row with a non-finite score, or an out-of-range target, is not)."""
    num_classes = shape_of(predictions)[-1]
    targets = ops.cast(targets, "int64")
    hot = ops.equal(ops.expand_dims(targets, -1), np.arange(num_classes, dtype=np.int64))
    zero = _const(0, predictions)
    target_score = ops.sum(ops.where(hot, predictions, zero), axis=-1)
    above = ops.cast(ops.greater(predictions, ops.expand_dims(target_score, -1)), "int32")
    rank_ok = ops.less(ops.sum(above, axis=-1), np.asarray(k, np.int32))
    finite = ops.logical_not(ops.logical_or(ops.isnan(predictions), ops.isinf(predictions)))
    row_finite = ops.greater(ops.min(ops.cast(finite, "int32"), axis=-1), np.int32(0))
    valid = ops.greater(ops.max(ops.cast(hot, "int32"), axis=-1), np.int32(0))
    return ops.logical_and(ops.logical_and(rank_ok, row_finite), valid)


def sparse_top_k_categorical_matches(y_true, y_pred, k=5):
    """1.0 where the integer label is among the top ``k`` predictions."""
    y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
    true_shape = shape_of(y_true)
    reshape = False
    if ndim(y_pred) > 2:
        y_pred = ops.reshape(y_pred, (-1, shape_of(y_pred)[-1]))
    if ndim(y_true) > 1:
        reshape = True
        y_true = ops.reshape(y_true, (-1,))
    matches = ops.cast(_in_top_k(y_pred, y_true, k), "float32")
    if reshape:
        matches = _reshape_to(matches, true_shape)
    return matches


def _categorical_matches(y_true, y_pred):
    return sparse_categorical_matches(ops.argmax(as_tensor(y_true), axis=-1), y_pred)


def _top_k_categorical_matches(y_true, y_pred, k=5):
    return sparse_top_k_categorical_matches(ops.argmax(as_tensor(y_true), axis=-1), y_pred, k)


@register("accuracy", "acc")
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true``, elementwise."""
    y_true, y_pred = as_tensor(y_true), as_tensor(y_pred)
    assert_compatible(shape_of(y_true), shape_of(y_pred))
    if str(y_true.dtype) != str(y_pred.dtype):
        y_pred = ops.cast(y_pred, str(y_true.dtype))
    return ops.cast(ops.equal(y_true, y_pred), "float32")


@register()
def binary_accuracy(y_true, y_pred, threshold=0.5):
    return ops.mean(binary_matches(y_true, y_pred, threshold), axis=-1)


@register()
def categorical_accuracy(y_true, y_pred):
    return _categorical_matches(y_true, y_pred)


@register()
def sparse_categorical_accuracy(y_true, y_pred):
    matches = sparse_categorical_matches(y_true, y_pred)
    shape = shape_of(matches)
    if len(shape) > 1 and shape[-1] == 1:
        matches = ops.squeeze(matches, -1)
    return matches


@register()
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _top_k_categorical_matches(y_true, y_pred, k)


@register()
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return sparse_top_k_categorical_matches(y_true, y_pred, k)


# ----------------------------------------------------------------- regression
@register("mean_squared_error", "mse", "MSE")
def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


@register("mean_absolute_error", "mae", "MAE")
def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


@register("mean_absolute_percentage_error", "mape", "MAPE")
def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred),
                              ops.maximum(ops.abs(y_true), _const(EPSILON, y_pred))))
    return ops.multiply(_const(100.0, y_pred), ops.mean(diff, axis=-1))


@register("mean_squared_logarithmic_error", "msle", "MSLE")
def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    eps, one = _const(EPSILON, y_pred), _const(1.0, y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, eps), one))
    second = ops.log(ops.add(ops.maximum(y_true, eps), one))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


@register("log_cosh", "logcosh")
def log_cosh(y_true, y_pred):
    """``log(cosh(y_pred - y_true))``, computed as ``x + softplus(-2x) - log(2)``."""
    y_true, y_pred = _float_pair(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    value = ops.subtract(ops.add(x, ops.softplus(ops.multiply(_const(-2.0, x), x))),
                         _const(np.log(2.0), x))
    return ops.mean(value, axis=-1)


logcosh = log_cosh


def _maybe_convert_labels(y_true):
    """Labels in {0, 1} become {-1, 1} (decided on the values, as tf.keras does)."""
    if None not in shape_of(y_true) and int(np.prod(shape_of(y_true))) == 0:
        return y_true
    zero, one = _const(0.0, y_true), _const(1.0, y_true)
    binary = ops.logical_or(ops.equal(y_true, zero), ops.equal(y_true, one))
    is_binary = ops.equal(ops.min(ops.cast(binary, "int32")), np.int32(1))
    converted = ops.subtract(ops.multiply(_const(2.0, y_true), y_true), one)
    return ops.where(is_binary, converted, y_true)


@register()
def hinge(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    margin = ops.subtract(_const(1.0, y_pred), ops.multiply(y_true, y_pred))
    return ops.mean(ops.maximum(margin, _const(0.0, y_pred)), axis=-1)


@register()
def squared_hinge(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    margin = ops.subtract(_const(1.0, y_pred), ops.multiply(y_true, y_pred))
    return ops.mean(ops.square(ops.maximum(margin, _const(0.0, y_pred))), axis=-1)


@register()
def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    one = _const(1.0, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(one, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), one), _const(0.0, y_pred))


@register("kl_divergence", "kld", "KLD", "kullback_leibler_divergence")
def kl_divergence(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    eps, one = _const(EPSILON, y_pred), _const(1.0, y_pred)
    y_true = ops.clip(y_true, eps, one)
    y_pred = ops.clip(y_pred, eps, one)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


kld = KLD = kullback_leibler_divergence = kl_divergence


@register()
def poisson(y_true, y_pred):
    y_true, y_pred = _float_pair(y_true, y_pred)
    log_pred = ops.log(ops.add(y_pred, _const(EPSILON, y_pred)))
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, log_pred)), axis=-1)


def l2_normalize(x, axis=-1):
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(square_sum, _const(1e-12, x))))


@register()
def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``."""
    y_true, y_pred = _float_pair(y_true, y_pred)
    return ops.sum(ops.multiply(l2_normalize(y_true, axis), l2_normalize(y_pred, axis)),
                   axis=axis)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error


# --------------------------------------------------------------- crossentropy
def _get_logits(output, from_logits, op_type, fn_name):
    """The logits behind a sigmoid/softmax output, when tracing recorded them."""
    logits = getattr(output, "_keras_logits", None) if isinstance(output, Tensor) else None
    if logits is None:
        return output, from_logits
    if from_logits:
        warnings.warn(f'"`{fn_name}` received `from_logits=True`, but the `output` argument '
                      f"was produced by a {op_type} activation and thus does not represent "
                      "logits. Was this intended?", stacklevel=3)
    return logits, True


def _smoothing(label_smoothing):
    if isinstance(label_smoothing, (Tensor, np.ndarray)):
        raise TypeError("label_smoothing must be a Python number.")
    return float(label_smoothing)


@register()
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_pred_in = as_tensor(y_pred)
    y_true, y_pred = _float_pair(y_true, y_pred_in)
    ls = _smoothing(label_smoothing)
    if ls:
        y_true = ops.add(ops.multiply(y_true, _const(1.0 - ls, y_true)), _const(0.5 * ls, y_true))
    output, from_logits = _get_logits(y_pred_in, from_logits, "Sigmoid", "binary_crossentropy")
    one = _const(1.0, output)
    if from_logits:
        # max(x, 0) - x * z + log(1 + exp(-|x|))
        bce = ops.add(ops.subtract(ops.relu(output), ops.multiply(output, y_true)),
                      ops.softplus(ops.negative(ops.abs(output))))
    else:
        eps = _const(EPSILON, output)
        output = ops.clip(output, eps, ops.subtract(one, eps))
        bce = ops.multiply(y_true, ops.log(ops.add(output, eps)))
        bce = ops.add(bce, ops.multiply(ops.subtract(one, y_true),
                                        ops.log(ops.add(ops.subtract(one, output), eps))))
        bce = ops.negative(bce)
    return ops.mean(bce, axis=axis)


@register()
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type "
                         f"{type(axis)}")
    y_pred_in = as_tensor(y_pred)
    y_true, y_pred = _float_pair(y_true, y_pred_in)
    if shape_of(y_pred)[-1] == 1:
        warnings.warn("In loss categorical_crossentropy, expected y_pred.shape to be "
                      "(batch_size, num_classes) with num_classes > 1. Received: "
                      f"y_pred.shape={shape_of(y_pred)}. Consider using 'binary_crossentropy' "
                      "if you only have 2 classes.", SyntaxWarning, stacklevel=2)
    ls = _smoothing(label_smoothing)
    if ls:
        num_classes = shape_of(y_true)[axis]
        if num_classes is None:
            raise ValueError("label_smoothing needs a known number of classes.")
        y_true = ops.add(ops.multiply(y_true, _const(1.0 - ls, y_true)),
                         ops.divide(_const(ls, y_true), _const(num_classes, y_true)))
    output, from_logits = _get_logits(y_pred_in, from_logits, "Softmax",
                                      "categorical_crossentropy")
    if from_logits:
        return ops.negative(ops.sum(ops.multiply(y_true, ops.log_softmax(output, axis=axis)),
                                    axis=axis))
    output = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))
    eps = _const(EPSILON, output)
    output = ops.clip(output, eps, ops.subtract(_const(1.0, output), eps))
    return ops.negative(ops.sum(ops.multiply(y_true, ops.log(output)), axis=axis))


def sparse_crossentropy_with_mask(y_true, y_pred, from_logits=False, axis=-1,
                                  ignore_class=None):
    """Per-sample sparse categorical crossentropy and its validity mask (None without
    ``ignore_class``; ignored positions have loss 0 and mask False)."""
    target = ops.cast(as_tensor(y_true), "int64")
    output = as_tensor(y_pred)
    output, from_logits = _get_logits(output, from_logits, "Softmax",
                                      "sparse_categorical_crossentropy")
    if not from_logits:
        eps = _const(EPSILON, output)
        output = ops.log(ops.clip(output, eps, ops.subtract(_const(1.0, output), eps)))
    rank = ndim(output)
    axis %= rank
    if axis != rank - 1:
        output = ops.transpose(output, [*range(axis), *range(axis + 1, rank), axis])
    out_shape = shape_of(output)
    num_classes = out_shape[-1]
    update_shape = ndim(target) != rank - 1
    if update_shape:
        target = ops.reshape(target, (-1,))
        output = ops.reshape(output, (-1, num_classes))
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(target, np.asarray(ignore_class, np.int64))
        target = ops.where(valid, target, np.zeros((), np.int64))
    hot = ops.equal(ops.expand_dims(target, -1), np.arange(num_classes, dtype=np.int64))
    picked = ops.where(hot, ops.log_softmax(output, axis=-1), _const(0.0, output))
    res = ops.negative(ops.sum(picked, axis=-1))
    if valid is not None:
        res = ops.where(valid, res, _const(0.0, res))
        if update_shape:
            res, valid = _reshape_to(res, out_shape[:-1]), _reshape_to(valid, out_shape[:-1])
        return res, valid
    if update_shape and rank >= 3:
        res = _reshape_to(res, out_shape[:-1])
    return res, None


@register()
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1,
                                    ignore_class=None):
    res, mask = sparse_crossentropy_with_mask(y_true, y_pred, from_logits, axis, ignore_class)
    if mask is not None and isinstance(res, Tensor):
        res._keras_mask = mask
    return res
