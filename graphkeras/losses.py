"""Losses with tf.keras 2.x semantics and numerics, written on ``gk.ops``.

Every loss runs eagerly on numpy arrays and traces into the train-step graph.
The functions (``mean_squared_error``, ``binary_crossentropy``, ...) return
per-sample losses; the classes (``MeanSquaredError``, ...) reduce them with
``sample_weight`` and ``reduction`` as tf.keras' ``compute_weighted_loss`` does:

* ``"sum_over_batch_size"`` (what ``"auto"`` means): the sum of the weighted
  losses divided by their NUMBER OF ELEMENTS (not by the sum of the weights);
* ``"sum"``: the sum of the weighted losses;
* ``"none"``: the weighted per-sample losses.

Probabilities are clipped to ``[epsilon, 1 - epsilon]`` (``backend.epsilon()``,
1e-7) before logs; a symbolic ``y_pred`` made by a sigmoid/softmax activation
carries its logits (``y_pred._keras_logits``) and the cross-entropies use the
stable logits formulas then, as tf.keras does.
"""
from __future__ import annotations

import warnings

import numpy as np

from graphkeras import backend, serialization
from graphkeras.compiler import ops
from graphkeras.compiler.primitive import Tensor

_KIND = "loss"


def _register(*names):
    return serialization.register(_KIND, *names)


# ----------------------------------------------------------------- helpers
def _to_tensor(x):
    """A symbolic tensor or an array as is; anything else (lists, Python numbers) as an
    array, Python floats becoming float32 as ``tf.convert_to_tensor`` makes them."""
    if isinstance(x, Tensor) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        return x
    x = np.asarray(x)
    if x.dtype == np.float64:
        x = x.astype(np.float32)
    elif x.dtype == np.int64:
        x = x.astype(np.int32)
    return x


def _dtype(x) -> str:
    return x.dtype if isinstance(x, Tensor) else np.dtype(x.dtype).name


def _shape(x) -> tuple:
    return tuple(x.shape)


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float") or dtype == "bfloat16"


def _const(value, dtype):
    return np.asarray(value, dtype=dtype)


def _prepare(y_true, y_pred):
    """``y_pred`` as a tensor and ``y_true`` cast to its dtype (tf.keras' first two lines)."""
    y_pred = _to_tensor(y_pred)
    y_true = ops.cast(_to_tensor(y_true), _dtype(y_pred))
    return y_true, y_pred


def _size(x):
    """The number of elements of ``x`` when its shape is fully known, else None."""
    n = 1
    for d in _shape(x):
        if d is None:
            return None
        n *= d
    return n


def _compatible_with_one(dim) -> bool:
    return dim is None or dim == 1


def _squeeze_last(x):
    if _shape(x)[-1] not in (1, None):
        raise ValueError(f"Can not squeeze dim[{len(_shape(x)) - 1}], expected a dimension of 1, "
                         f"got {_shape(x)[-1]} (shape {_shape(x)}).")
    return ops.squeeze(x, axis=-1)


def remove_squeezable_dimensions(labels, predictions, expected_rank_diff=0):
    """Squeeze a trailing size-1 dimension of ``predictions`` or ``labels`` when their ranks
    differ by one more/less than ``expected_rank_diff``."""
    rank_diff = len(_shape(predictions)) - len(_shape(labels))
    if rank_diff == expected_rank_diff + 1 and _compatible_with_one(_shape(predictions)[-1]):
        predictions = ops.squeeze(predictions, axis=-1)
    elif rank_diff == expected_rank_diff - 1 and _compatible_with_one(_shape(labels)[-1]):
        labels = ops.squeeze(labels, axis=-1)
    return labels, predictions


def squeeze_or_expand_dimensions(y_pred, y_true=None, sample_weight=None):
    """tf.keras' rank matching: drop a trailing 1 from ``y_pred``/``y_true`` when their ranks
    differ by one; squeeze or expand ``sample_weight``'s last axis to ``y_pred``'s rank."""
    y_pred_shape = _shape(y_pred)
    y_pred_rank = len(y_pred_shape)
    if y_true is not None:
        y_true_rank = len(_shape(y_true))
        if y_pred_rank - y_true_rank != 1 or (y_pred_shape and y_pred_shape[-1] == 1):
            y_true, y_pred = remove_squeezable_dimensions(y_true, y_pred)
    if sample_weight is None:
        return y_pred, y_true
    weights_rank = len(_shape(sample_weight))
    if weights_rank == 0:
        return y_pred, y_true, sample_weight
    if weights_rank - y_pred_rank == 1:
        sample_weight = _squeeze_last(sample_weight)
    elif y_pred_rank - weights_rank == 1:
        sample_weight = ops.expand_dims(sample_weight, -1)
    return y_pred, y_true, sample_weight


# --------------------------------------------------------------- reduction
class Reduction:
    """Loss reduction types (``tf.keras.losses.Reduction``)."""
    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f'Invalid Reduction Key: {key}. Expected keys are "{cls.all()}"')


ReductionV2 = Reduction


def _safe_mean_all(x):
    """``sum(x) / size(x)`` (0 for an empty ``x``); ``mean(x)`` when the size is dynamic."""
    n = _size(x)
    if n is None:
        return ops.mean(x)
    total = ops.sum(x)
    if n == 0:
        return ops.multiply(total, 0.0)
    return ops.divide(total, _const(n, _dtype(x)))


def reduce_weighted_loss(weighted_losses, reduction=Reduction.SUM_OVER_BATCH_SIZE):
    if reduction == Reduction.NONE:
        return weighted_losses
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return _safe_mean_all(weighted_losses)
    return ops.sum(weighted_losses)


def compute_weighted_loss(losses, sample_weight=None, reduction=Reduction.SUM_OVER_BATCH_SIZE):
    """Weight ``losses`` by ``sample_weight`` (broadcast after rank matching) and reduce."""
    Reduction.validate(reduction)
    if reduction == Reduction.AUTO:
        reduction = Reduction.SUM_OVER_BATCH_SIZE
    losses = _to_tensor(losses)
    input_dtype = _dtype(losses)
    if not _is_float(input_dtype):
        losses = ops.cast(losses, "float32")
    if sample_weight is None:
        weighted = losses
    else:
        sample_weight = ops.cast(_to_tensor(sample_weight), _dtype(losses))
        losses, _, sample_weight = squeeze_or_expand_dimensions(losses, None, sample_weight)
        weighted = ops.multiply(losses, sample_weight)
    loss = reduce_weighted_loss(weighted, reduction)
    if not _is_float(input_dtype):
        loss = ops.cast(loss, input_dtype)
    return loss


def _get_mask(x):
    return getattr(x, "_keras_mask", None)


def _apply_mask(losses, sample_weight, mask):
    if mask is None:
        return sample_weight
    mask = ops.cast(mask, _dtype(losses))
    if sample_weight is None:
        return mask
    sample_weight = ops.cast(_to_tensor(sample_weight), _dtype(mask))
    mask, _, sample_weight = squeeze_or_expand_dimensions(mask, sample_weight=sample_weight)
    return ops.multiply(sample_weight, mask)


def _apply_valid_mask(losses, sample_weight, mask, reduction):
    """Fold a validity mask into the weights; for sum_over_batch_size the valid entries are
    scaled by ``size / valid`` so the reduction averages over valid entries only."""
    if mask is not None:
        mask = ops.cast(mask, _dtype(losses))
        if reduction in (Reduction.AUTO, Reduction.SUM_OVER_BATCH_SIZE):
            n = _size(mask)
            if n is None:
                mask = ops.divide(mask, ops.mean(mask))
            else:
                mask = ops.multiply(mask, ops.divide(_const(n, _dtype(mask)), ops.sum(mask)))
    return _apply_mask(losses, sample_weight, mask)


class _MaskedArray(np.ndarray):
    """An eager per-sample loss that carries a validity mask, as tf.keras sets
    ``_keras_mask`` on the result of sparse_categorical_crossentropy(ignore_class=...)."""
    _keras_mask = None


def _with_mask(losses, mask):
    if isinstance(losses, Tensor):
        losses._keras_mask = mask
        return losses
    out = np.asarray(losses).view(_MaskedArray)
    out._keras_mask = np.asarray(mask)
    return out


# ------------------------------------------------------- Loss and its wrapper
class Loss:
    """Base class: subclasses implement ``call(y_true, y_pred)`` with gk.ops, returning
    per-sample losses; ``__call__`` weights and reduces them."""

    def __init__(self, reduction=Reduction.AUTO, name=None):
        Reduction.validate(reduction)
        self.reduction = reduction
        self.name = name
        self._allow_sum_over_batch_size = False

    def __call__(self, y_true, y_pred, sample_weight=None):
        losses = self.call(y_true, y_pred)
        in_mask, out_mask = _get_mask(y_pred), _get_mask(losses)
        if in_mask is not None and out_mask is not None:
            mask = ops.logical_and(in_mask, out_mask)
        else:
            mask = in_mask if in_mask is not None else out_mask
        reduction = self._get_reduction()
        sample_weight = _apply_valid_mask(losses, sample_weight, mask, reduction)
        return compute_weighted_loss(losses, sample_weight, reduction=reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError("Must be implemented in subclasses.")

    def _get_reduction(self):
        if self.reduction == Reduction.AUTO:
            return Reduction.SUM_OVER_BATCH_SIZE
        return self.reduction

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def _registered_name(fn):
    return getattr(fn, "_registered_name", None) or getattr(fn, "__name__", type(fn).__name__)


@_register("LossFunctionWrapper")
class LossFunctionWrapper(Loss):
    """Wraps a per-sample loss function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction=Reduction.AUTO, name=None, **kwargs):
        super().__init__(reduction=reduction, name=name)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_pred, y_true = squeeze_or_expand_dimensions(_to_tensor(y_pred), _to_tensor(y_true))
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                  for k, v in self._fn_kwargs.items()}
        config["fn"] = _registered_name(self.fn)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn_name = config.pop("fn", None)
        if fn_name and cls is LossFunctionWrapper:
            config["fn"] = get(fn_name)
        return cls(**config)


# ---------------------------------------------------- per-sample functions
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


def _maybe_convert_labels(y_true):
    """Labels that are all 0 or 1 become -1/1 (hinge losses)."""
    binary = ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0))
    all_binary = ops.greater(ops.min(ops.cast(binary, "float32")), 0.5)
    return ops.where(all_binary, ops.subtract(ops.multiply(2.0, y_true), 1.0), y_true)


@_register("squared_hinge")
def squared_hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    margin = ops.maximum(ops.subtract(1.0, ops.multiply(y_true, y_pred)), 0.0)
    return ops.mean(ops.square(margin), axis=-1)


@_register("hinge")
def hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _maybe_convert_labels(y_true)
    return ops.mean(ops.maximum(ops.subtract(1.0, ops.multiply(y_true, y_pred)), 0.0), axis=-1)


@_register("categorical_hinge")
def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _prepare(y_true, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(neg, pos), 1.0), 0.0)


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


def _l2_normalize(x, axis):
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(square_sum, 1e-12)))


@_register("cosine_similarity")
def cosine_similarity(y_true, y_pred, axis=-1):
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _l2_normalize(y_true, axis)
    y_pred = _l2_normalize(y_pred, axis)
    return ops.negative(ops.sum(ops.multiply(y_true, y_pred), axis=axis))


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


def _backend_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    _check_compatible(target, output)
    output, from_logits = _get_logits(output, from_logits, "Softmax", "categorical_crossentropy")
    if from_logits:
        return ops.negative(ops.sum(ops.multiply(target, ops.log_softmax(output, axis=axis)),
                                    axis=axis))
    output = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))
    eps = backend.epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
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
    output = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))
    eps = backend.epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
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


# ---------------------------------------------------------- the loss classes
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


@_register("LogCosh")
class LogCosh(LossFunctionWrapper):
    """``mean(log(cosh(y_pred - y_true)))``."""

    def __init__(self, reduction=Reduction.AUTO, name="log_cosh"):
        super().__init__(log_cosh, name=name, reduction=reduction)


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
kld = KLD = kullback_leibler_divergence = kl_divergence
huber_loss = huber


# --------------------------------------------------------- (de)serialization
def _unknown(name):
    return ValueError(
        f"Unknown loss function: '{name}'. Please ensure you are using a "
        "`keras.utils.custom_object_scope` and that this object is included in the scope. See "
        "https://www.tensorflow.org/guide/keras/save_and_serialize"
        "#registering_the_custom_object for details.")


def serialize(loss, use_legacy_format=False):
    """A loss object as ``{"module", "class_name", "config", "registered_name"}``; a function
    as tf.keras writes one (its name; ``use_legacy_format`` gives the bare name / the
    ``{"class_name", "config"}`` form)."""
    if loss is None:
        return None
    if isinstance(loss, Loss):
        if use_legacy_format:
            return {"class_name": type(loss).__name__, "config": loss.get_config()}
        internal = type(loss) is LossFunctionWrapper
        return serialization.serialize(loss, "keras.__internal__.losses" if internal
                                       else "keras.losses")
    if isinstance(loss, str):
        return loss
    name = _registered_name(loss)
    if use_legacy_format:
        return name
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}


def _lookup(name, custom_objects=None):
    obj = serialization.lookup(_KIND, name, custom_objects)
    if obj is None:
        raise _unknown(name)
    return obj


def deserialize(name, custom_objects=None, use_legacy_format=False):
    """A loss from a name (a class name gives an instance with default arguments) or a
    serialized dict."""
    if name is None:
        return None
    if isinstance(name, str):
        obj = _lookup(name, custom_objects)
        return obj() if isinstance(obj, type) else obj
    if isinstance(name, dict):
        class_name = name.get("class_name")
        config = name.get("config")
        if class_name == "function":
            return _lookup(config, custom_objects)
        if class_name is None:
            raise ValueError(f"Could not interpret loss function identifier: {name}")
        obj = None
        if name.get("registered_name"):
            obj = serialization.lookup(_KIND, name["registered_name"], custom_objects)
        if obj is None:
            obj = _lookup(class_name, custom_objects)
        if not isinstance(obj, type):
            return obj
        return obj.from_config(dict(config or {}))
    return name


def get(identifier):
    """Resolve a loss: a name ("mse", "binary_crossentropy", "MeanSquaredError", ...), a
    serialized dict, a Loss instance or class, or any callable ``fn(y_true, y_pred)``."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss function identifier: {identifier}")


def is_categorical_crossentropy(loss):
    return (isinstance(loss, CategoricalCrossentropy)
            or (isinstance(loss, LossFunctionWrapper) and loss.fn is categorical_crossentropy)
            or getattr(loss, "__name__", None) == "categorical_crossentropy"
            or (isinstance(loss, str) and loss == "categorical_crossentropy"))
