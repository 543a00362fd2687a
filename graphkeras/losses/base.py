"""The machinery shared by every loss: tensor helpers, tf.keras' rank matching,
``Reduction`` and ``compute_weighted_loss``, the ``Loss`` base class and
``LossFunctionWrapper``, and ``get``/``serialize``/``deserialize``.

A loss class ``__call__`` reduces per-sample losses with ``sample_weight`` and
``reduction`` as tf.keras' ``compute_weighted_loss`` does:

* ``"sum_over_batch_size"`` (what ``"auto"`` means): the sum of the weighted
  losses divided by their NUMBER OF ELEMENTS (not by the sum of the weights);
* ``"sum"``: the sum of the weighted losses;
* ``"none"``: the weighted per-sample losses.
"""
from __future__ import annotations

import numpy as np

from graphkeras import serialization
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
