"""Advanced activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU."""
from __future__ import annotations

import numpy as np

from graphkeras import activations, initializers, regularizers, serialization
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer

register = lambda cls: serialization.register("layer")(cls)  # noqa: E731


def _floatx(value):
    """A Python float holding ``value`` rounded to float32 (tf.keras casts these
    arguments to floatx, so its configs show e.g. 0.30000001192092896)."""
    return float(np.float32(value))


def _constraint_config(constraint):
    if constraint is None or isinstance(constraint, (dict, str)):
        return constraint
    return serialization.serialize(constraint, "keras.constraints")


@register
class ReLU(Layer):
    """``f(x) = max_value`` for ``x >= max_value``, ``x`` for ``threshold < x < max_value``,
    ``negative_slope * (x - threshold)`` otherwise."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: {max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be a negative value. "
                             f"Received: {negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be a negative value. "
                             f"Received: {threshold}")
        self.supports_masking = True
        self.max_value = None if max_value is None else _floatx(max_value)
        self.negative_slope = _floatx(negative_slope)
        self.threshold = _floatx(threshold)

    def call(self, inputs):
        return activations.relu(inputs, alpha=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


@register
class LeakyReLU(Layer):
    """``f(x) = alpha * x`` for ``x < 0``, ``x`` otherwise (tf.keras 2.x default alpha=0.3)."""

    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        if alpha is None:
            raise ValueError("The alpha value of a Leaky ReLU layer cannot be None, Expecting a "
                             f"float. Received: {alpha}")
        self.supports_masking = True
        self.alpha = _floatx(alpha)

    def call(self, inputs):
        return activations.leaky_relu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class PReLU(Layer):
    """``f(x) = alpha * x`` for ``x < 0``, ``x`` otherwise, with a learned ``alpha``
    shaped like the input without its batch axis (size 1 on ``shared_axes``)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = alpha_constraint
        if shared_axes is None:
            self.shared_axes = None
        elif not isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = list(shared_axes)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        param_shape = list(input_shape[1:])
        if self.shared_axes is not None:
            for i in self.shared_axes:
                if not -len(param_shape) <= i - 1 < len(param_shape):
                    raise ValueError(f"Invalid `shared_axes` for a PReLU layer: axis {i} is out "
                                     f"of range for inputs of shape {input_shape}. "
                                     f"Received: shared_axes={self.shared_axes}")
                param_shape[i - 1] = 1
        if any(d is None for d in param_shape):
            raise ValueError("A PReLU layer needs every non-batch, non-shared input dimension "
                             f"to be defined. Received input with shape {input_shape} and "
                             f"shared_axes={self.shared_axes}")
        self.alpha = self.add_weight("alpha", shape=tuple(param_shape),
                                     initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        axes = {}
        if self.shared_axes:
            for i in range(1, len(input_shape)):
                if i not in self.shared_axes:
                    axes[i] = input_shape[i]
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)
        self.built = True

    def call(self, inputs):
        pos = ops.relu(inputs)
        neg = ops.multiply(ops.negative(self.alpha), ops.relu(ops.negative(inputs)))
        return ops.add(pos, neg)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": _constraint_config(self.alpha_constraint),
                "shared_axes": self.shared_axes}


@register
class ELU(Layer):
    """``f(x) = alpha * (exp(x) - 1)`` for ``x < 0``, ``x`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if alpha is None:
            raise ValueError("Alpha of an ELU layer cannot be None, expecting a float. "
                             f"Received: {alpha}")
        self.supports_masking = True
        self.alpha = _floatx(alpha)

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class ThresholdedReLU(Layer):
    """``f(x) = x`` for ``x > theta``, ``0`` otherwise."""

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        if theta is None:
            raise ValueError("Theta of a Thresholded ReLU layer cannot be None, expecting a "
                             f"float. Received: {theta}")
        if theta < 0:
            raise ValueError("The theta value of a Thresholded ReLU layer should be >=0. "
                             f"Received: {theta}")
        self.supports_masking = True
        self.theta = _floatx(theta)

    def call(self, inputs):
        keep = ops.greater(inputs, np.asarray(self.theta, dtype=inputs.dtype))
        return ops.multiply(inputs, ops.cast(keep, inputs.dtype))

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


# tf.keras' "large negative" added to masked-out logits (float16 uses its minimum)
_LARGE_NEGATIVE = -1e9


@register
class Softmax(Layer):
    """Softmax over ``axis`` (an int, or a list/tuple of axes normalized together).

    ``mask`` (1 = keep): masked positions get a large negative logit; with
    ``robust_masking=True`` they are replaced by it instead of shifted.
    """

    def __init__(self, axis=-1, robust_masking=False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.robust_masking = robust_masking
        self.axis = axis

    def call(self, inputs, mask=None):
        dtype = inputs.dtype
        large_negative = np.asarray(np.finfo(np.float16).min if np.dtype(dtype) == np.float16
                                    else _LARGE_NEGATIVE, dtype=dtype)
        if mask is not None:
            if self.robust_masking:
                if not hasattr(mask, "dtype"):
                    mask = np.asarray(mask)
                keep = mask if str(mask.dtype) == "bool" else ops.greater(mask, 0.5)
                inputs = ops.where(keep, inputs, large_negative)
            else:
                adder = ops.multiply(ops.subtract(np.ones((), dtype), ops.cast(mask, dtype)),
                                     large_negative)
                inputs = ops.add(inputs, adder)
        if isinstance(self.axis, (tuple, list)):
            if len(self.axis) > 1:
                axes = list(self.axis)
                peak = ops.max(inputs, axis=axes, keepdims=True)
                shifted = ops.subtract(inputs, peak)
                log_sum = ops.log(ops.sum(ops.exp(shifted), axis=axes, keepdims=True))
                return ops.exp(ops.subtract(shifted, log_sum))
            return ops.softmax(inputs, axis=self.axis[0])
        return ops.softmax(inputs, axis=self.axis)

    def get_config(self):
        config = {**super().get_config(), "axis": self.axis}
        if self.robust_masking:
            config["robust_masking"] = True
        return config
