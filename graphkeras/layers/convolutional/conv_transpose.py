"""Transposed convolutions: Conv1DTranspose, Conv2DTranspose."""
from __future__ import annotations

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, _fmt
from graphkeras.layers.conv_utils import normalize_tuple, to_channels_last, to_data_format
from graphkeras.layers.convolutional.conv import Conv, _as_float
from graphkeras.layers.core import register


class ConvTranspose(Conv):
    """Transposed convolution base; the kernel is ``(*kernel_size, filters, in)``.

    As in tf.keras, a ``groups`` argument is accepted and kept in the config
    but the transposed convolution itself is never grouped.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, **kwargs):
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)
        self.output_padding = output_padding
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, rank, "output_padding",
                                                  allow_zero=True)
            for stride, pad in zip(self.strides, self.output_padding):
                if pad >= stride:
                    raise ValueError("Strides must be greater than output padding. Received "
                                     f"strides={self.strides}, "
                                     f"output_padding={self.output_padding}.")

    def _validate_init(self):
        if self.padding == "causal":
            raise ValueError("Causal padding is only supported for `Conv1D`and `SeparableConv1D`.")
        super()._validate_init()

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"Inputs should have rank {self.rank + 2}. Received "
                             f"input_shape={_fmt(input_shape)}.")
        channels = self._input_channel(input_shape, f" to `{type(self).__name__}`")
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.kernel = self.add_weight("kernel", shape=self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        x = to_channels_last(_as_float(self, inputs), self.data_format)
        y = ops.conv_transpose(x, self.kernel, self.bias if self.use_bias else None,
                               strides=self.strides, padding=self.padding,
                               output_padding=self.output_padding,
                               dilation_rate=self.dilation_rate)
        return to_data_format(self.activation(y), self.data_format)

    def get_config(self):
        return {**self._base_config(), "output_padding": self.output_padding}


@register
class Conv1DTranspose(ConvTranspose):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


@register
class Conv2DTranspose(ConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)
