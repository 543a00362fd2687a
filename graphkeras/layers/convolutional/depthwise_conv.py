"""Depthwise convolutions: DepthwiseConv1D, DepthwiseConv2D (and the grouped
convolution they run on, which the separable convolutions share)."""
from __future__ import annotations

import numpy as np

from graphkeras import initializers, regularizers
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, _fmt
from graphkeras.layers.conv_utils import to_channels_last, to_data_format
from graphkeras.layers.convolutional.conv import Conv, _as_float
from graphkeras.layers.core import constraint_config, register


def _depthwise(x, depthwise_kernel, bias, strides, padding, dilation_rate):
    """Depthwise convolution of channels-last ``x`` with a ``(*k, in, dm)`` kernel:
    a grouped convolution with one group per input channel."""
    k = tuple(depthwise_kernel.shape)
    kernel = ops.reshape(depthwise_kernel, k[:-2] + (1, k[-2] * k[-1]))
    return ops.conv(x, kernel, bias, strides=strides, padding=padding,
                    dilation_rate=dilation_rate, groups=k[-2])


def _check_depth_multiplier(value):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError("`depth_multiplier` must be a positive integer. "
                         f"Received: depth_multiplier={value}")


class DepthwiseConv(Conv):
    """Depthwise convolution base: ``depthwise_kernel`` ``(*kernel_size, in,
    depth_multiplier)`` and ``bias`` ``(in * depth_multiplier,)``.

    tf.keras passes unknown keyword arguments (``groups``, ``kernel_initializer``
    ...) on to its convolution base; they are accepted here and, except
    ``groups``, dropped, as there.
    """

    def __init__(self, rank, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        for key in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            kwargs.pop(key, None)
        super().__init__(rank, None, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = depthwise_constraint

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"Inputs to `DepthwiseConv` should have rank {self.rank + 2}. "
                             f"Received input_shape={_fmt(input_shape)}.")
        channels = self._input_channel(input_shape, " to `DepthwiseConv`")
        _check_depth_multiplier(self.depth_multiplier)
        self._check_output(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.bias = self._add_bias(channels * self.depth_multiplier)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def call(self, inputs):
        self._check_output(tuple(inputs.shape))
        x = to_channels_last(_as_float(self, inputs), self.data_format)
        y = _depthwise(x, self.depthwise_kernel, self.bias if self.use_bias else None,
                       self.strides, self.padding, self.dilation_rate)
        return to_data_format(self.activation(y), self.data_format)

    def get_config(self):
        config = self._base_config()
        for key in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config["depth_multiplier"] = self.depth_multiplier
        config["depthwise_initializer"] = initializers.serialize(self.depthwise_initializer)
        config["depthwise_regularizer"] = regularizers.serialize(self.depthwise_regularizer)
        config["depthwise_constraint"] = constraint_config(self.depthwise_constraint)
        return config


@register
class DepthwiseConv1D(DepthwiseConv):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


@register
class DepthwiseConv2D(DepthwiseConv):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
