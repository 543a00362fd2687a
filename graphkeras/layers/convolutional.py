"""Convolution layers: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose,
DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D.

Arguments, defaults, weight names and order, configs and argument errors
follow tf.keras 2.x. Everything is computed channels-last with
``ops.conv``/``ops.conv_transpose``; ``data_format="channels_first"`` moves
the channel axis last, convolves, and moves it back.

The argument helpers at the top (``normalize_tuple``, ``normalize_padding``,
``normalize_data_format``) are shared with the pooling and reshaping layers.
"""
from __future__ import annotations

import numpy as np

from graphkeras import activations, initializers, regularizers
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer, _fmt
from graphkeras.layers.core import constraint_config, register


# --------------------------------------------------------------- argument helpers
def normalize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int or an iterable of ``n`` ints) as a tuple of ``n`` ints,
    with tf.keras' error messages."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received: {value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
        out = []
        for v in values:
            try:
                out.append(int(v))
            except (ValueError, TypeError):
                raise ValueError(f"{message}including element {v} of type {type(v)}") from None
        values = tuple(out)
    if allow_zero:
        bad, requirement = {v for v in values if v < 0}, "`>= 0`"
    else:
        bad, requirement = {v for v in values if v <= 0}, "`> 0`"
    if bad:
        raise ValueError(f"{message} including {bad} that does not satisfy the requirement "
                         f"{requirement}.")
    return values


def normalize_padding(value):
    if isinstance(value, (list, tuple)):
        return value
    padding = str(value).lower()
    if padding not in ("valid", "same", "causal"):
        raise ValueError('The `padding` argument must be a list/tuple or one of "valid", "same" '
                         f'(or "causal", only for `Conv1D). Received: {value}')
    return padding


def normalize_data_format(value):
    if value is None:
        return "channels_last"
    data_format = str(value).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError('The `data_format` argument must be one of "channels_first", '
                         f'"channels_last". Received: {value}')
    return data_format


def to_channels_last(x, data_format):
    """``x`` with its channel axis last (a no-op for channels_last)."""
    if data_format != "channels_first":
        return x
    nd = len(x.shape)
    return ops.transpose(x, [0] + list(range(2, nd)) + [1])


def to_data_format(x, data_format):
    """Undo :func:`to_channels_last`."""
    if data_format != "channels_first":
        return x
    nd = len(x.shape)
    return ops.transpose(x, [0, nd - 1] + list(range(1, nd - 1)))


def check_window_fits(layer, spatial, kernel, dilations, padding, shape):
    """tf.keras refuses a 'valid' window larger than the (padded) input."""
    if padding != "valid":
        return
    for n, k, d in zip(spatial, kernel, dilations):
        eff = (k - 1) * d + 1
        if n is not None and n < eff:
            raise ValueError(f"One of the dimensions in the output is <= 0 due to downsampling in "
                             f"{layer.name}. Consider increasing the input size. Received input "
                             f"shape {_fmt(shape)} which would produce output shape with a zero "
                             "or negative value in a dimension.")


def _as_float(layer, x):
    return x if x.dtype == layer.dtype else ops.cast(x, layer.dtype)


# --------------------------------------------------------------------- base
class Conv(Layer):
    """The N-d convolution base (``Conv1D``/``Conv2D`` fix ``rank``)."""

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
        if self.padding == "causal" and not isinstance(self, (Conv1D, SeparableConv1D)):
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
        self.bias = self.add_weight("bias", shape=(self.filters,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.built = True

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


# ------------------------------------------------------ transposed convolution
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
        self.bias = self.add_weight("bias", shape=(self.filters,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
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


# ---------------------------------------------------------------- depthwise
def _depthwise(x, depthwise_kernel, bias, strides, padding, dilation_rate):
    """Depthwise convolution of channels-last ``x`` with a ``(*k, in, dm)`` kernel:
    a grouped convolution with one group per input channel."""
    k = tuple(depthwise_kernel.shape)
    kernel = ops.reshape(depthwise_kernel, k[:-2] + (1, k[-2] * k[-1]))
    return ops.conv(x, kernel, bias, strides=strides, padding=padding,
                    dilation_rate=dilation_rate, groups=k[-2])


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
        if not isinstance(self.depth_multiplier, (int, np.integer)) or self.depth_multiplier < 1:
            raise ValueError("`depth_multiplier` must be a positive integer. "
                             f"Received: depth_multiplier={self.depth_multiplier}")
        self._check_output(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.bias = self.add_weight("bias", shape=(channels * self.depth_multiplier,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
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


# ---------------------------------------------------------------- separable
class SeparableConv(Conv):
    """Depthwise then pointwise convolution: weights ``depthwise_kernel``
    ``(*k, in, dm)``, ``pointwise_kernel`` ``(*1s, in * dm, filters)``, ``bias``."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, trainable=trainable, name=name,
                         **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = depthwise_constraint
        self.pointwise_constraint = pointwise_constraint

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = self._input_channel(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"Inputs to `{type(self).__name__}` should have rank "
                             f"{self.rank + 2}. Received input_shape={_fmt(input_shape)}.")
        if not isinstance(self.depth_multiplier, (int, np.integer)) or self.depth_multiplier < 1:
            raise ValueError("`depth_multiplier` must be a positive integer. "
                             f"Received: depth_multiplier={self.depth_multiplier}")
        self._check_output(input_shape)
        dm = int(self.depth_multiplier)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): channels})
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", shape=self.kernel_size + (channels, dm),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", shape=(1,) * self.rank + (dm * channels, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self.add_weight("bias", shape=(self.filters,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        self._check_output(tuple(inputs.shape))
        x = to_channels_last(_as_float(self, inputs), self.data_format)
        x = self._causal_pad(x)
        y = _depthwise(x, self.depthwise_kernel, None, self.strides, self._conv_padding(),
                       self.dilation_rate)
        y = ops.conv(y, self.pointwise_kernel, self.bias if self.use_bias else None)
        return to_data_format(self.activation(y), self.data_format)

    def get_config(self):
        return {**self._base_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "depthwise_constraint": constraint_config(self.depthwise_constraint),
                "pointwise_constraint": constraint_config(self.pointwise_constraint)}


@register
class SeparableConv1D(SeparableConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, pointwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


@register
class SeparableConv2D(SeparableConv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


# tf.keras aliases (the same classes)
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D

__all__ = ["Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D",
           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Convolution1D",
           "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
           "SeparableConvolution1D", "SeparableConvolution2D"]
