"""Probabilistic losses: the cross-entropies (binary, categorical, sparse, focal),
KL divergence and Poisson.

Probabilities are clipped to ``[epsilon, 1 - epsilon]`` (``backend.epsilon()``,
1e-7) before logs; a symbolic ``y_pred`` made by a sigmoid/softmax activation
carries its logits (``y_pred._keras_logits``) and the cross-entropies use the
stable logits formulas then, as tf.keras does.
"""
from __future__ import annotations

import warnings

import numpy as np

from graphkeras import backend
from graphkeras.compiler import ops
from graphkeras.losses.base import (
    LossFunctionWrapper, Reduction, _compatible_with_one, _const, _dtype, _prepare, _register,
    _shape, _to_tensor, _with_mask)


@_register("kl_divergence", "kld", "KLD", "kullback_leibler_divergence")
def kl_divergence(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    eps = backend.epsilon()
    y_true = ops.clip(y_true, eps, 1.0)
    y_pred = ops.clip(y_pred, eps, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


@_register("poisson")
def poisson(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    log_pred = ops.log(ops.add(y_pred, backend.epsilon()))
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, log_pred)), axis=-1)


# ------------------------------------------------------------ cross-entropy
def _get_logits(output, from_logits, activation, fn_name):
    """The logits behind a sigmoid/softmax output, when the output carries them."""
    logits = getattr(output, "_keras_logits", None)
    if logits is None:
        return output, from_logits
    if from_logits:
        warnings.warn(f'"`{fn_name}` received `from_logits=True`, but the `output` argument was '
                      f"produced by a {activation} activation and thus does not represent "
                      "logits. Was this intended?", stacklevel=3)
    return logits, True


def _sigmoid_cross_entropy_with_logits(labels, logits):
    # max(x, 0) - x * z + log(1 + exp(-|x|))
    return ops.add(ops.subtract(ops.relu(logits), ops.multiply(logits, labels)),
                   ops.softplus(ops.negative(ops.abs(logits))))


def _backend_binary_crossentropy(target, output, from_logits=False):
    output, from_logits = _get_logits(output, from_logits, "Sigmoid", "binary_crossentropy")
    if from_logits:
        return _sigmoid_cross_entropy_with_logits(target, output)
    eps = backend.epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
    bce = ops.multiply(target, ops.log(ops.add(output, eps)))
    bce = ops.add(bce, ops.multiply(ops.subtract(1.0, target),
                                    ops.log(ops.add(ops.subtract(1.0, output), eps))))
    return ops.negative(bce)


def _smooth_binary_labels(y_true, label_smoothing, dtype):
    if not label_smoothing:
        return y_true
    ls = _const(label_smoothing, dtype)
    kept = ops.multiply(y_true, np.subtract(_const(1.0, dtype), ls))
    return ops.add(kept, _const(0.5, dtype) * ls)


@_register("binary_crossentropy")
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _smooth_binary_labels(y_true, label_smoothing, _dtype(y_pred))
    return ops.mean(_backend_binary_crossentropy(y_true, y_pred, from_logits), axis=axis)


@_register("binary_focal_crossentropy")
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _smooth_binary_labels(y_true, label_smoothing, _dtype(y_pred))
    sigmoidal = ops.sigmoid(y_pred) if from_logits else y_pred
    p_t = ops.add(ops.multiply(y_true, sigmoidal),
                  ops.multiply(ops.subtract(1.0, y_true), ops.subtract(1.0, sigmoidal)))
    focal_factor = ops.power(ops.subtract(1.0, p_t), float(gamma))
    bce = _backend_binary_crossentropy(y_true, y_pred, from_logits)
    focal_bce = ops.multiply(focal_factor, bce)
    if apply_class_balancing:
        weight = ops.add(ops.multiply(y_true, float(alpha)),
                         ops.multiply(ops.subtract(1.0, y_true), 1.0 - alpha))
        focal_bce = ops.multiply(weight, focal_bce)
    return ops.mean(focal_bce, axis=axis)


def _check_axis(axis):
    if isinstance(axis, bool):
        raise ValueError("`axis` must be of type `int`. "
                         f"Received: axis={axis} of type {type(axis)}")


def _check_compatible(target, output):
    a, b = _shape(target), _shape(output)
    if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        raise ValueError(f"Shapes {a} and {b} are incompatible")


def _num_classes(y_true, y_pred, axis, dtype):
    n = _shape(y_true)[axis]
    if n is None:
        n = _shape(y_pred)[axis]
    if n is not None:
        return _const(n, dtype)
    ones = ops.add(ops.multiply(y_true, 0.0), 1.0)
    return ops.sum(ones, axis=axis, keepdims=True)


def _smooth_categorical_labels(y_true, y_pred, label_smoothing, axis):
    if not label_smoothing:
        return y_true
    dtype = _dtype(y_pred)
    ls = _const(label_smoothing, dtype)
    smoothed = ops.multiply(y_true, np.subtract(_const(1.0, dtype), ls))
    return ops.add(smoothed, ops.divide(ls, _num_classes(y_true, y_pred, axis, dtype)))


def _warn_one_class(y_pred, fn_name):
    if _shape(y_pred) and _shape(y_pred)[-1] == 1:
        warnings.warn(f"In loss {fn_name}, expected y_pred.shape to be (batch_size, num_classes) "
                      f"with num_classes > 1. Received: y_pred.shape={_shape(y_pred)}. Consider "
                      "using 'binary_crossentropy' if you only have 2 classes.",
                      SyntaxWarning, stacklevel=3)


def _normalized_probabilities(output, axis):
    """``output`` scaled to sum to 1 along ``axis``, then clipped to [eps, 1 - eps]."""
    output = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))
    eps = backend.epsilon()
    return ops.clip(output, eps, 1.0 - eps)


def _backend_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    _check_compatible(target, output)
    output, from_logits = _get_logits(output, from_logits, "Softmax", "categorical_crossentropy")
    if from_logits:
        return ops.negative(ops.sum(ops.multiply(target, ops.log_softmax(output, axis=axis)),
                                    axis=axis))
    output = _normalized_probabilities(output, axis)
    return ops.negative(ops.sum(ops.multiply(target, ops.log(output)), axis=axis))


@_register("categorical_crossentropy")
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _check_axis(axis)
    y_true, y_pred = _prepare(y_true, y_pred)
    _warn_one_class(y_pred, "categorical_crossentropy")
    y_true = _smooth_categorical_labels(y_true, y_pred, label_smoothing, axis)
    return _backend_categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


@_register("categorical_focal_crossentropy")
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    _check_axis(axis)
    y_true, y_pred = _prepare(y_true, y_pred)
    _warn_one_class(y_pred, "categorical_focal_crossentropy")
    y_true = _smooth_categorical_labels(y_true, y_pred, label_smoothing, -1)
    _check_compatible(y_true, y_pred)
    output, from_logits = _get_logits(y_pred, from_logits, "Softmax",
                                      "categorical_focal_crossentropy")
    if from_logits:
        output = ops.softmax(output, axis=axis)
    output = _normalized_probabilities(output, axis)
    cce = ops.multiply(ops.negative(y_true), ops.log(output))
    weighting = ops.multiply(ops.power(ops.subtract(1.0, output), float(gamma)), float(alpha))
    return ops.sum(ops.multiply(weighting, cce), axis=axis)


@_register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, ignore_class=None):
    """Integer labels of shape ``y_pred.shape[:-1]`` (or with a trailing 1)."""
    target = ops.cast(_to_tensor(y_true), "int64")
    output = _to_tensor(y_pred)
    output, from_logits = _get_logits(output, from_logits, "Softmax",
                                      "sparse_categorical_crossentropy")
    if not from_logits:
        eps = backend.epsilon()
        output = ops.log(ops.clip(output, eps, 1.0 - eps))
    rank = len(_shape(output))
    axis = axis % rank
    if axis != rank - 1:  # the class axis goes last
        output = ops.transpose(output, [a for a in range(rank) if a != axis] + [axis])
    if rank == 1:
        output = ops.expand_dims(output, 0)
    lead = _shape(output)[:-1]
    if len(_shape(target)) != len(lead):
        if len(_shape(target)) == len(lead) + 1 and _compatible_with_one(_shape(target)[-1]):
            target = ops.squeeze(target, axis=-1)
        else:  # tf.keras flattens the labels against the flattened predictions
            target = ops.reshape(target, (-1,) + tuple(lead[1:]) if None in lead else lead)
    num_classes = _shape(output)[-1]
    hot = ops.one_hot(target, num_classes, dtype=_dtype(output))
    res = ops.negative(ops.sum(ops.multiply(hot, ops.log_softmax(output, axis=-1)), axis=-1))
    if ignore_class is None:
        return res
    valid = ops.not_equal(target, _const(ignore_class, "int64"))
    res = ops.where(valid, res, 0.0)
    return _with_mask(res, valid)


@_register("KLDivergence")
class KLDivergence(LossFunctionWrapper):
    """``sum(y_true * log(y_true / y_pred))``."""

    def __init__(self, reduction=Reduction.AUTO, name="kl_divergence"):
        super().__init__(kl_divergence, name=name, reduction=reduction)


@_register("Poisson")
class Poisson(LossFunctionWrapper):
    """``mean(y_pred - y_true * log(y_pred + epsilon))``."""

    def __init__(self, reduction=Reduction.AUTO, name="poisson"):
        super().__init__(poisson, name=name, reduction=reduction)


@_register("BinaryCrossentropy")
class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction=Reduction.AUTO, name="binary_crossentropy"):
        super().__init__(binary_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits


@_register("BinaryFocalCrossentropy")
class BinaryFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction=Reduction.AUTO,
                 name="binary_focal_crossentropy"):
        super().__init__(binary_focal_crossentropy, name=name, reduction=reduction,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma


@_register("CategoricalCrossentropy")
class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction=Reduction.AUTO, name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


@_register("CategoricalFocalCrossentropy")
class CategoricalFocalCrossentropy(LossFunctionWrapper):
    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction=Reduction.AUTO, name="categorical_focal_crossentropy"):
        super().__init__(categorical_focal_crossentropy, name=name, reduction=reduction,
                         alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


@_register("SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction=Reduction.AUTO,
                 name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, ignore_class=ignore_class)


# aliases, as tf.keras.losses has them
kld = KLD = kullback_leibler_divergence = kl_divergence


def is_categorical_crossentropy(loss):
    return (isinstance(loss, CategoricalCrossentropy)
            or (isinstance(loss, LossFunctionWrapper) and loss.fn is categorical_crossentropy)
            or getattr(loss, "__name__", None) == "categorical_crossentropy"
            or (isinstance(loss, str) and loss == "categorical_crossentropy"))
