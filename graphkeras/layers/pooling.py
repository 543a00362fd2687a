"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D,
GlobalMaxPooling1D/2D, and tf.keras' aliases (MaxPool2D, AvgPool2D, GlobalAvgPool2D ...).

Arguments, defaults, configs (key order included) and argument errors follow
tf.keras 2.x. Pooling runs channels-last on ``ops.max_pool``/``ops.average_pool``
(tf's 'same' rule; averages count only real pixels, as tf does).
"""
from __future__ import annotations

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer
from graphkeras.layers.conv_utils import (
    check_window_fits, normalize_data_format, normalize_padding, normalize_tuple,
    to_channels_last, to_data_format)
from graphkeras.layers.core import register


class Pooling(Layer):
    """N-d pooling base (``rank`` 1 or 2)."""

    _pool_op = None  # ops.max_pool or ops.average_pool, set by subclasses

    def __init__(self, rank, pool_size, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        if data_format is None:
            data_format = "channels_last"
        if strides is None:
            strides = pool_size
        self.pool_size = normalize_tuple(pool_size, rank, "pool_size")
        self.strides = normalize_tuple(strides, rank, "strides", allow_zero=True)
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=rank + 2)

    def call(self, inputs):
        if self.padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding: {self.padding}")
        if not all(self.strides):
            raise ValueError(f"Stride must be > 0, but got 0 (strides={self.strides}) in layer "
                             f'"{self.name}".')
        x = to_channels_last(inputs, self.data_format)
        check_window_fits(self, tuple(x.shape[1:-1]), self.pool_size, (1,) * self.rank,
                          self.padding, tuple(inputs.shape))
        y = type(self)._pool_op(x, self.pool_size, strides=self.strides, padding=self.padding)
        return to_data_format(y, self.data_format)

    def get_config(self):
        base = super().get_config()
        if self.rank == 1:  # tf.keras' Pooling1D and Pooling2D order their keys differently
            return {**base, "strides": self.strides, "pool_size": self.pool_size,
                    "padding": self.padding, "data_format": self.data_format}
        return {**base, "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


@register
class MaxPooling1D(Pooling):
    _pool_op = staticmethod(ops.max_pool)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last",
                 **kwargs):
        super().__init__(1, pool_size, strides=strides, padding=padding, data_format=data_format,
                         **kwargs)


@register
class AveragePooling1D(Pooling):
    _pool_op = staticmethod(ops.average_pool)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last",
                 **kwargs):
        super().__init__(1, pool_size, strides=strides, padding=padding, data_format=data_format,
                         **kwargs)


@register
class MaxPooling2D(Pooling):
    _pool_op = staticmethod(ops.max_pool)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(2, pool_size, strides=strides, padding=padding, data_format=data_format,
                         **kwargs)


@register
class AveragePooling2D(Pooling):
    _pool_op = staticmethod(ops.average_pool)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(2, pool_size, strides=strides, padding=padding, data_format=data_format,
                         **kwargs)


# ----------------------------------------------------------------- global
class GlobalPooling(Layer):
    """Reduce every spatial axis; ``keepdims`` keeps them as size-1 axes."""

    def __init__(self, rank, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.data_format = normalize_data_format(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=rank + 2)

    def _axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return list(range(first, first + self.rank))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


@register
class GlobalAveragePooling1D(GlobalPooling):
    def __init__(self, data_format="channels_last", **kwargs):
        super().__init__(1, data_format=data_format, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        axes = self._axes()
        if mask is None:
            return ops.mean(inputs, axis=axes, keepdims=self.keepdims)
        mask = ops.cast(mask, inputs.dtype)
        mask = ops.expand_dims(mask, 2 if self.data_format == "channels_last" else 1)
        total = ops.sum(ops.multiply(inputs, mask), axis=axes, keepdims=self.keepdims)
        return ops.divide(total, ops.sum(mask, axis=axes, keepdims=self.keepdims))

    def compute_mask(self, inputs, mask=None):
        return None


@register
class GlobalMaxPooling1D(GlobalPooling):
    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(1, data_format=data_format, keepdims=keepdims, **kwargs)

    def call(self, inputs):
        return ops.max(inputs, axis=self._axes(), keepdims=self.keepdims)


@register
class GlobalAveragePooling2D(GlobalPooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format=data_format, keepdims=keepdims, **kwargs)

    def call(self, inputs):
        return ops.mean(inputs, axis=self._axes(), keepdims=self.keepdims)


@register
class GlobalMaxPooling2D(GlobalPooling):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format=data_format, keepdims=keepdims, **kwargs)

    def call(self, inputs):
        return ops.max(inputs, axis=self._axes(), keepdims=self.keepdims)


# tf.keras aliases (the same classes, so configs name the full class)
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"]
