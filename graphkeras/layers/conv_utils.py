"""Argument and layout helpers shared by the convolution, pooling and reshaping
layers (as tf.keras' ``conv_utils``): ``normalize_tuple``, ``normalize_padding``,
``normalize_data_format``, the channels-first/last moves and tf.keras' check that
a 'valid' window fits its input.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import _fmt


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
