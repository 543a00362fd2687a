"""The N-d convolution base ``Conv`` (shared by every convolution layer) and
Conv1D/Conv2D."""
from __future__ import annotations

from graphkeras import activations, initializers, regularizers
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer, _fmt
from graphkeras.layers.conv_utils import (
    check_window_fits, normalize_data_format, normalize_padding, normalize_tuple,
    to_channels_last, to_data_format)
from graphkeras.layers.core import constraint_config, register


def _as_float(layer, x):
    return x if x.dtype == layer.dtype else ops.cast(x, layer.dtype)


class Conv(Layer):
    """The N-d convolution base (``Conv1D``/``Conv2D`` fix ``rank``)."""

    _causal_padding = False  # padding="causal" accepted (Conv1D, SeparableConv1D)

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        if filters is not None and not isinstance(filters, int):
            filters = int(filters)
        if filters is not None and filters <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly positive "
                             f"value. Received filters={filters}.")
        self.filters = filters
        self.groups = groups or 1
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides = normalize_tuple(strides, rank, "strides", allow_zero=True)
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.input_spec = InputSpec(min_ndim=rank + 2)
        self._validate_init()

    def _validate_init(self):
        if self.filters is not None and self.filters % self.groups != 0:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={self.groups}, filters={self.filters}")
        if not all(self.kernel_size):
            raise ValueError("The argument `kernel_size` cannot contain 0(s). "
                             f"Received: {self.kernel_size}")
        if not all(self.strides):
            raise ValueError("The argument `strides` cannot contains 0(s). "
                             f"Received: {self.strides}")
        if self.padding == "causal" and not self._causal_padding:
            raise ValueError("Causal padding is only supported for `Conv1D`and `SeparableConv1D`.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        if not isinstance(self.padding, str):
            raise ValueError("graphkeras convolution layers take padding 'valid', 'same' (or "
                             "'causal' for 1D layers); for explicit padding put a ZeroPadding "
                             f"layer before the convolution. Received: padding={self.padding}")

    # shapes -----------------------------------------------------------
    def _channel_axis(self):
        return -1 - self.rank if self.data_format == "channels_first" else -1

    def _input_channel(self, input_shape, where=""):
        axis = self._channel_axis()
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs{where} should be defined. The "
                             f"input_shape received is {_fmt(input_shape)}, where axis {axis} "
                             "(0-based) is the channel dimension, which found to be `None`.")
        return int(channels)

    def _spatial(self, shape):
        """Spatial dims of a full input shape (any number of batch dims)."""
        if self.data_format == "channels_first":
            return tuple(shape[-self.rank:])
        return tuple(shape[-self.rank - 1:-1])

    def _conv_padding(self):
        return "valid" if self.padding == "causal" else self.padding

    def _causal_pad(self, x):
        """Left-pad the time axis (channels-last ``x``) by ``dilation * (kernel - 1)``."""
        if self.padding != "causal":
            return x
        left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
        pads = [(0, 0)] * len(x.shape)
        pads[1] = (left, 0)
        return ops.pad(x, pads)

    def _check_output(self, shape):
        spatial = self._spatial(shape)
        if self.padding == "causal":
            return
        check_window_fits(self, spatial, self.kernel_size, self.dilation_rate, self.padding, shape)

    # weights and call -------------------------------------------------
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = self._input_channel(input_shape)
        if channels % self.groups != 0:
            raise ValueError("The number of input channels must be evenly divisible by the number "
                             f"of groups. Received groups={self.groups}, but the input has "
                             f"{channels} channels (full input shape is {_fmt(input_shape)}).")
        self._check_output(input_shape)
        kernel_shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape=kernel_shape,
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

    def _add_bias(self, size):
        """The ``bias`` weight of ``size`` entries (None without ``use_bias``)."""
        if not self.use_bias:
            return None
        return self.add_weight("bias", shape=(size,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _merge_batch(self, x):
        """Fold extra leading batch dims into one (tf.keras convolves over the last rank+1)."""
        shape = tuple(x.shape)
        extra = len(shape) - (self.rank + 2)
        if extra <= 0:
            return x, None
        tail = shape[extra + 1:]
        if any(d is None for d in tail):
            raise ValueError(f"{type(self).__name__} on inputs with more than one batch dimension "
                             f"needs known non-batch sizes; received input shape {_fmt(shape)}.")
        return ops.reshape(x, (-1,) + tail), shape[1:extra + 1]

    def _split_batch(self, y, lead):
        if lead is None:
            return y
        return ops.reshape(y, (-1,) + tuple(lead) + tuple(y.shape[1:]))

    def call(self, inputs):
        self._check_output(tuple(inputs.shape))
        x, lead = self._merge_batch(_as_float(self, inputs))
        x = self._causal_pad(to_channels_last(x, self.data_format))
        y = ops.conv(x, self.kernel, self.bias if self.use_bias else None, strides=self.strides,
                     padding=self._conv_padding(), dilation_rate=self.dilation_rate,
                     groups=self.groups)
        y = self.activation(y)
        return self._split_batch(to_data_format(y, self.data_format), lead)

    def _base_config(self):
        return {**Layer.get_config(self), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraint_config(self.kernel_constraint),
                "bias_constraint": constraint_config(self.bias_constraint)}

    def get_config(self):
        return self._base_config()


@register
class Conv1D(Conv):
    _causal_padding = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


@register
class Conv2D(Conv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)
