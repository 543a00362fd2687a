"""Normalization layers: BatchNormalization and LayerNormalization."""
from __future__ import annotations

import numpy as np

from graphkeras import initializers, regularizers, serialization
from graphkeras.compiler import ops
from graphkeras.compiler.primitive import Tensor
from graphkeras.engine.base_layer import InputSpec, Layer
from graphkeras.layers.core import register


def _constraint_config(constraint):
    if constraint is None or isinstance(constraint, (dict, str)):
        return constraint
    return serialization.serialize(constraint, "keras.constraints")


def _check_axis_type(axis):
    ok = isinstance(axis, int) and not isinstance(axis, bool)
    if isinstance(axis, (list, tuple)):
        ok = all(isinstance(a, int) and not isinstance(a, bool) for a in axis)
    if not ok:
        raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', but "
                        f"received: {axis!r}")


def _validate_axes(axis, input_shape):
    """Axes as a list of non-negative ints, checked against the input's rank."""
    rank = len(input_shape)
    axes = [axis] if isinstance(axis, int) else list(axis)
    axes = [a + rank if a < 0 else a for a in axes]
    for a in axes:
        if not 0 <= a < rank:
            raise ValueError("Invalid value for `axis` argument. Expected 0 <= axis < inputs.rank "
                             f"(with inputs.rank={rank}). Received: axis={tuple(axes)}")
    if len(axes) != len(set(axes)):
        raise ValueError(f"Duplicate axis: {tuple(axes)}")
    for a in axes:
        if input_shape[a] is None:
            raise ValueError("Input has undefined `axis` dimension. Received input with shape "
                             f"{tuple(input_shape)} and axis={tuple(axes)}")
    return axes


def _static_count(x, axes):
    """Number of elements reduced over ``axes``: a Python int when the sizes are
    known, else a scalar tensor (the unknown sizes are counted at run time)."""
    shape = tuple(x.shape)
    known = int(np.prod([shape[a] for a in axes if shape[a] is not None], dtype=np.int64))
    unknown = [a for a in axes if shape[a] is None]
    if not unknown:
        return known
    # a slice keeping the full extent only on the unknown axes, turned into ones
    index = tuple(slice(None) if i in unknown else slice(0, 1) for i in range(len(shape)))
    piece = ops.getitem(x, index)
    one = np.ones((), dtype=x.dtype)
    ones = ops.where(ops.isnan(piece), one, one)
    return ops.multiply(ops.sum(ones), np.asarray(known, dtype=x.dtype))


def _batch_normalization(x, mean, variance, offset, scale, epsilon):
    """tf.nn.batch_normalization: ``x * inv + (offset - mean * inv)``,
    ``inv = scale / sqrt(variance + epsilon)``."""
    inv = ops.rsqrt(ops.add(variance, np.asarray(epsilon, dtype=x.dtype)))
    if scale is not None:
        inv = ops.multiply(inv, scale)
    shift = ops.negative(ops.multiply(mean, inv)) if offset is None else \
        ops.subtract(offset, ops.multiply(mean, inv))
    return ops.add(ops.multiply(x, inv), shift)


def _moments(x, axes):
    """Mean and (biased) variance of ``x`` over ``axes``, keeping the reduced axes."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=True)
    return mean, variance


def _add_gamma_beta(layer, shape):
    """``layer.gamma`` (with ``scale``) then ``layer.beta`` (with ``center``), tf.keras'
    weight order; None where switched off."""
    layer.gamma = layer.add_weight("gamma", shape=shape, initializer=layer.gamma_initializer,
                                   regularizer=layer.gamma_regularizer,
                                   constraint=layer.gamma_constraint) if layer.scale else None
    layer.beta = layer.add_weight("beta", shape=shape, initializer=layer.beta_initializer,
                                  regularizer=layer.beta_regularizer,
                                  constraint=layer.beta_constraint) if layer.center else None


@register
class BatchNormalization(Layer):
    """Normalizes with the batch's statistics while training and with moving
    averages of them at inference (tf.keras 2.x semantics).

    As in tf.keras, 4-D and 5-D inputs normalized over one channel axis (1 or last)
    take the "fused" path, whose moving variance is updated with the unbiased
    (Bessel-corrected) batch variance; every other case uses the biased one.
    A layer with ``trainable = False`` always runs in inference mode.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                 fused=None, virtual_batch_size=None, adjustment=None, synchronized=False,
                 **kwargs):
        super().__init__(**kwargs)
        _check_axis_type(axis)
        if renorm:
            raise ValueError("graphkeras' BatchNormalization does not support `renorm=True` "
                             "(batch renormalization); use renorm=False.")
        if virtual_batch_size is not None:
            raise ValueError("graphkeras' BatchNormalization does not support "
                             "`virtual_batch_size`; leave it None.")
        if adjustment is not None:
            raise ValueError("graphkeras' BatchNormalization does not support `adjustment`; "
                             "leave it None.")
        self.axis = axis[:] if isinstance(axis, (list, tuple)) else axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.renorm = renorm
        self.fused = fused
        self.synchronized = synchronized
        self.supports_masking = True
        # Moving-statistics updates recorded while tracing (training=True on symbolic
        # inputs): a list of ``(variable, new_value_tensor)`` pairs, all from the trace
        # that recorded them (``tensor.trace``; older traces' entries are dropped). The
        # same updates also go through ``Variable.assign``, which inside a trace records
        # them as state outputs (``trace.updates``); a training-step compiler may read
        # either. Eagerly (numpy inputs) the variables are simply assigned.
        self._state_updates = []

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        rank = len(input_shape)
        self.axis = _validate_axes(self.axis, input_shape)
        fusable = rank in (4, 5) and len(self.axis) == 1 and self.axis[0] in (1, rank - 1)
        if self.fused:
            if rank not in (4, 5):
                raise ValueError("Batch normalization layers with `fused=True` only support 4D "
                                 f"or 5D input tensors. Received tensor with shape: {input_shape}")
            if not fusable:
                raise ValueError("Passing `fused=True` is only supported when axis is 1 or 3 for "
                                 "input rank = 4 or 1 or 4 for input rank = 5. Got axis "
                                 f"{self.axis}")
        self._fused = fusable if self.fused is None else bool(self.fused)
        axis_to_dim = {a: input_shape[a] for a in self.axis}
        if len(self.axis) == 1:
            param_shape = (axis_to_dim[self.axis[0]],)
        else:
            param_shape = tuple(axis_to_dim.get(i, 1) for i in range(rank))
        self.input_spec = InputSpec(ndim=rank, axes=axis_to_dim)
        _add_gamma_beta(self, param_shape)
        self.moving_mean = self.add_weight("moving_mean", shape=param_shape,
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape=param_shape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def _broadcast(self, v, rank):
        """A per-channel parameter reshaped to broadcast against the input."""
        if v is None:
            return None
        shape = tuple(v.shape)
        target = tuple(shape[0] if i == self.axis[0] else 1 for i in range(rank)) \
            if len(self.axis) == 1 else shape
        if len(self.axis) == 1 and self.axis[0] == rank - 1:
            return v
        return ops.reshape(v, target) if target != shape else v

    def _assign_moving_average(self, variable, value):
        """``variable - (variable - value) * (1 - momentum)``: assigned now on numpy;
        while tracing, recorded as a state output and in ``_state_updates``."""
        decay = np.asarray(1.0 - self.momentum, dtype=variable.dtype)
        new_value = ops.subtract(variable, ops.multiply(ops.subtract(variable, value), decay))
        if isinstance(new_value, Tensor):
            self._state_updates[:] = [(v, t) for v, t in self._state_updates
                                      if t.trace is new_value.trace]
            self._state_updates.append((variable, new_value))
        variable.assign(new_value)

    def call(self, inputs, training=None):
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        rank = len(inputs.shape)
        training = bool(training) and self.trainable
        gamma = self._broadcast(self.gamma, rank)
        beta = self._broadcast(self.beta, rank)
        if not training:
            mean = self._broadcast(self.moving_mean, rank)
            variance = self._broadcast(self.moving_variance, rank)
            return _batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)
        reduction_axes = [i for i in range(rank) if i not in self.axis]
        mean, variance = _moments(inputs, reduction_axes)
        outputs = _batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)
        param_shape = tuple(self.moving_mean.shape)
        batch_mean = ops.reshape(mean, param_shape)
        batch_variance = ops.reshape(variance, param_shape)
        if self._fused:
            # the fused kernel updates the moving variance with the unbiased variance
            n = _static_count(inputs, reduction_axes)
            if isinstance(n, int):
                factor = np.asarray(n / max(n - 1, 1), dtype=inputs.dtype)
            else:
                factor = ops.divide(n, ops.maximum(ops.subtract(n, 1.0), 1.0))
            batch_variance = ops.multiply(batch_variance, factor)
        self._assign_moving_average(self.moving_mean, batch_mean)
        self._assign_moving_average(self.moving_variance, batch_variance)
        return outputs

    def get_config(self):
        config = {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                  "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                  "beta_initializer": initializers.serialize(self.beta_initializer),
                  "gamma_initializer": initializers.serialize(self.gamma_initializer),
                  "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                  "moving_variance_initializer":
                      initializers.serialize(self.moving_variance_initializer),
                  "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                  "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                  "beta_constraint": _constraint_config(self.beta_constraint),
                  "gamma_constraint": _constraint_config(self.gamma_constraint)}
        if self.synchronized:
            config["synchronized"] = True
        return config


@register
class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (tf.keras 2.x semantics): mean and
    variance over ``axis``, then ``x * inv + (beta - mean * inv)`` with
    ``inv = gamma / sqrt(variance + epsilon)``; gamma and beta have the shape of
    the normalized axes."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _check_axis_type(axis)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.axis = _validate_axes(self.axis, input_shape)
        param_shape = tuple(input_shape[a] for a in self.axis)
        _add_gamma_beta(self, param_shape)
        self.built = True

    def call(self, inputs):
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        shape = tuple(inputs.shape)
        rank = len(shape)
        broadcast_shape = [1] * rank
        for a in self.axis:
            broadcast_shape[a] = shape[a]

        def _broadcast(v):
            # as tf.keras: a plain reshape (in memory order) to the broadcast shape
            if v is None or self.axis == [rank - 1] or len(v.shape) == rank:
                return v
            return ops.reshape(v, broadcast_shape)

        mean, variance = _moments(inputs, self.axis)
        return _batch_normalization(inputs, mean, variance, _broadcast(self.beta),
                                    _broadcast(self.gamma), self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": _constraint_config(self.beta_constraint),
                "gamma_constraint": _constraint_config(self.gamma_constraint)}
