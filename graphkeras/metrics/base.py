"""``Metric`` and the reducing metrics (``Mean``, ``Sum``, ``MeanMetricWrapper``).

A metric is a layer whose non-trainable variables hold running statistics.
``update_state`` is written with ``graphkeras.compiler.ops`` and ``assign_add``,
so the same code updates numpy values eagerly and records state outputs when a
compiled step is traced. Sample-weight handling follows tf.keras 2.x:
weights are squeezed/expanded by one rank to match the values, broadcast to
them when possible, and otherwise the values are first averaged (or summed)
over their trailing axes down to the weights' rank.
"""
from __future__ import annotations

import functools

import numpy as np

from graphkeras import initializers
from graphkeras.compiler import ops
from graphkeras.compiler.ir import canonical_dtype
from graphkeras.compiler.primitive import Tensor
from graphkeras.engine.base_layer import Layer
from graphkeras.serialization import register as _register_kind
from graphkeras.variables import Variable


def register(*names):
    """Make a metric class or function findable by name (``gk.metrics.get``)."""
    return _register_kind("metric", *names)


# ------------------------------------------------------------------ helpers
def shape_of(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ndim(x) -> int:
    return len(shape_of(x))


def as_tensor(x, dtype=None):
    """``x`` as something the ops accept: a symbolic tensor, or a numpy array
    (Python floats become float32, as in Keras), cast to ``dtype`` if given."""
    if isinstance(x, Variable):
        x = x._as_operand()
    if not isinstance(x, (Tensor, np.ndarray)):
        x = np.asarray(x)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        elif x.dtype == np.int64 and dtype is None:
            x = x.astype(np.int32)
    if dtype is not None:
        x = ops.cast(x, canonical_dtype(dtype))
    return x


def ones_like(x, dtype="float32"):
    shape = shape_of(x)
    if None not in shape:
        return np.ones(shape, dtype)
    one = np.ones((), dtype)
    probe = x if str(x.dtype).startswith("float") else ops.cast(x, "float32")
    return ops.where(ops.isnan(probe), one, one)


def size(x, dtype="float32"):
    """Number of elements of ``x`` (a constant when its shape is static)."""
    shape = shape_of(x)
    if None not in shape:
        return np.asarray(int(np.prod(shape, dtype=np.int64)), dtype)
    return ops.sum(ones_like(x, dtype))


def divide_no_nan(x, y):
    """``x / y``, and 0 where ``y == 0`` (``tf.math.divide_no_nan``)."""
    x, y = ops.promote(x, y)
    zero = ops.equal(y, np.zeros((), _dtype(y)))
    safe = ops.where(zero, np.ones((), _dtype(y)), y)
    return ops.where(zero, np.zeros((), _dtype(y)), ops.divide(x, safe))


def _dtype(x):
    return canonical_dtype(x.dtype)


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def assert_compatible(a_shape, b_shape):
    """tf's ``TensorShape.assert_is_compatible_with``."""
    ok = len(a_shape) == len(b_shape) and all(
        a is None or b is None or a == b for a, b in zip(a_shape, b_shape))
    if not ok:
        raise ValueError(f"Shapes {_fmt(a_shape)} and {_fmt(b_shape)} are incompatible")


def remove_squeezable_dimensions(labels, predictions):
    """Squeeze the last axis of whichever of the two has one more axis (if it is 1)."""
    l_shape, p_shape = shape_of(labels), shape_of(predictions)
    rank_diff = len(p_shape) - len(l_shape)
    if rank_diff == 1 and p_shape[-1] in (1, None):
        predictions = ops.squeeze(predictions, -1)
    elif rank_diff == -1 and l_shape[-1] in (1, None):
        labels = ops.squeeze(labels, -1)
    return labels, predictions


def squeeze_or_expand_dimensions(y_pred, y_true=None, sample_weight=None):
    """Align ranks as tf.keras' ``losses_utils.squeeze_or_expand_dimensions``."""
    p_shape = shape_of(y_pred)
    p_rank = len(p_shape)
    if y_true is not None:
        t_rank = ndim(y_true)
        if p_rank - t_rank != 1 or (p_rank and p_shape[-1] == 1):
            y_true, y_pred = remove_squeezable_dimensions(y_true, y_pred)
    if sample_weight is None:
        return y_pred, y_true
    w_rank = ndim(sample_weight)
    if w_rank == 0:
        return y_pred, y_true, sample_weight
    if w_rank - p_rank == 1:
        sample_weight = ops.squeeze(sample_weight, -1)
    elif p_rank - w_rank == 1:
        sample_weight = ops.expand_dims(sample_weight, -1)
    return y_pred, y_true, sample_weight


def broadcast_weights(weights, values):
    """``weights`` broadcast to ``values``' shape; a ValueError when tf would refuse
    (weights must be a scalar, or have the values' rank with each axis 1 or equal)."""
    w_shape, v_shape = shape_of(weights), shape_of(values)
    if w_shape == v_shape and None not in w_shape:
        return weights
    if w_shape:
        bad = len(w_shape) != len(v_shape) or any(
            w is not None and v is not None and w not in (1, v) for w, v in zip(w_shape, v_shape))
        if bad:
            raise ValueError(
                "weights can not be broadcast to values. "
                f"values.rank={len(v_shape)}. weights.rank={len(w_shape)}. "
                f"values.shape={_fmt(v_shape)}. weights.shape={_fmt(w_shape)}.")
    return ops.multiply(weights, ones_like(values, _dtype(weights)))


def apply_mask(values, sample_weight, mask):
    """Fold a validity mask of ``values`` into the sample weights."""
    if mask is None:
        return sample_weight
    mask = ops.cast(mask, _dtype(values))
    if sample_weight is None:
        return mask
    sample_weight = ops.cast(sample_weight, _dtype(values))
    mask, _, sample_weight = squeeze_or_expand_dimensions(mask, sample_weight=sample_weight)
    return ops.multiply(sample_weight, mask)


def _values_of(out):
    """A result as values: variables a ``result()`` returns become their current value
    (a copy eagerly, the traced value in a trace), as tf.keras' result wrapper does."""
    if isinstance(out, Variable):
        value = out._as_operand()
        return np.array(value) if isinstance(value, np.ndarray) else value
    if isinstance(out, dict):
        return {k: _values_of(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return type(out)(_values_of(v) for v in out)
    return out


# --------------------------------------------------------------------- Metric
class Metric(Layer):
    """Base of stateful metrics: ``update_state``, ``result``, ``reset_state``.

    Subclasses create their state in ``__init__`` with ``self.add_weight`` and
    write ``update_state``/``result`` with ``gk.ops`` so they run eagerly and in
    compiled steps. Calling a metric updates it and returns the new result.
    """

    _is_metric = True  # layers track metric attributes in `_metrics`, not as sublayers

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fn = cls.__dict__.get("result")
        if fn is not None and not getattr(fn, "_returns_values", False):
            @functools.wraps(fn)
            def result(self):
                return _values_of(fn(self))
            result._returns_values = True
            cls.result = result

    def __init__(self, name=None, dtype=None, **kwargs):
        if dtype is not None and not isinstance(dtype, dict):
            dtype = canonical_dtype(dtype)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.stateful = True
        self.built = True

    # state ----------------------------------------------------------
    def add_weight(self, name=None, shape=(), aggregation=None, synchronization=None,
                   initializer="zeros", dtype=None, trainable=False, **kwargs):
        """A state variable named like tf.keras' (``total:0``), zero-initialized."""
        dtype = canonical_dtype(dtype or self._dtype)
        shape = tuple(int(d) for d in (shape or ()))
        value = initializers.get(initializer or "zeros")(shape, dtype=dtype)
        var = Variable(np.asarray(value, dtype), name=name or "Variable", trainable=trainable,
                       dtype=dtype)
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        return var

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement `update_state()`.")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `result()`.")

    def reset_state(self):
        """Set every state variable back to zeros."""
        for v in self.variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reset_states(self):  # tf.keras' deprecated spelling
        return self.reset_state()

    def merge_state(self, metrics):
        """Add the state of other metrics of the same kind into this one."""
        for other in metrics:
            if len(other.variables) != len(self.variables):
                raise ValueError(f"Metric {other} is not compatible with {self}")
            for v, w in zip(self.variables, other.variables):
                v.assign_add(w)

    def __call__(self, *args, **kwargs):
        """Update the state with this batch and return the current result."""
        self.update_state(*args, **kwargs)
        return self.result()

    # config ---------------------------------------------------------
    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):  # also settable as ``_name``, as on tf.keras layers
        object.__setattr__(self, "_name", value)

    @property
    def dtype(self):
        return self._dtype

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------------- Reduce family
class Reduce(Metric):
    """Accumulates ``sum(values * weights)`` and, for a mean, ``sum(weights)``."""

    reduction = "weighted_mean"

    def __init__(self, reduction, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reduction = reduction
        self.total = self.add_weight("total", initializer="zeros")
        if reduction in ("sum_over_batch_size", "weighted_mean"):
            self.count = self.add_weight("count", initializer="zeros")

    def update_state(self, values, sample_weight=None):
        if isinstance(values, dict):
            raise RuntimeError(
                "The output of a metric function can only be a single Tensor. "
                f"Received: {values}. To return a dict of values, implement a custom Metric "
                "subclass.")
        values = as_tensor(values, self._dtype)
        if sample_weight is not None:
            sample_weight = as_tensor(sample_weight, self._dtype)
            values, _, sample_weight = squeeze_or_expand_dimensions(
                values, sample_weight=sample_weight)
            try:
                sample_weight = broadcast_weights(sample_weight, values)
            except ValueError:
                axes = tuple(range(ndim(sample_weight), ndim(values)))
                if axes:
                    reduce = ops.sum if self.reduction == "sum" else ops.mean
                    values = reduce(values, axis=axes)
            values = ops.multiply(values, sample_weight)
        self.total.assign_add(ops.sum(values))
        if self.reduction == "sum":
            return
        if self.reduction == "weighted_mean" and sample_weight is not None:
            num_values = ops.sum(sample_weight)
        else:
            num_values = size(values, self._dtype)
        self.count.assign_add(num_values)

    def result(self):
        if self.reduction == "sum":
            return ops.add(self.total, np.zeros((), self._dtype))  # a copy, as tf.identity
        return divide_no_nan(self.total, self.count)


@register()
class Sum(Reduce):
    """The (weighted) sum of the given values."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(reduction="sum", name=name, dtype=dtype)


@register()
class Mean(Reduce):
    """The weighted mean of the given values: ``sum(values * w) / sum(w)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(reduction="weighted_mean", name=name, dtype=dtype)


@register()
class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` over all batches."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def _matches(self, y_true, y_pred):
        """``fn``'s values and their validity mask (None when all are valid)."""
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return values, getattr(values, "_keras_mask", None)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = as_tensor(y_true, self._dtype)
        y_pred = as_tensor(y_pred, self._dtype)
        y_pred, y_true = squeeze_or_expand_dimensions(y_pred, y_true)
        values, mask = self._matches(y_true, y_pred)
        values = as_tensor(values, self._dtype)
        sample_weight = apply_mask(values, sample_weight, mask)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = {k: (np.asarray(v).tolist() if isinstance(v, (np.ndarray, Variable)) else v)
                  for k, v in self._fn_kwargs.items()}
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = config.pop("fn", None)
        if cls is MeanMetricWrapper:
            from graphkeras.metrics import get
            return cls(get(fn), **config)
        return cls(**config)
