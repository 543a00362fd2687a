"""Spatial reshaping layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

Arguments, defaults, configs and argument errors follow tf.keras 2.x.
"""
from __future__ import annotations

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer, _fmt
from graphkeras.layers.conv_utils import (
    normalize_data_format, normalize_tuple, to_channels_last, to_data_format)
from graphkeras.layers.core import register

_ORDINALS = ("1st", "2nd")


def _pairs_2d(value, name, example):
    """tf.keras' ZeroPadding2D/Cropping2D argument: an int, two ints, or two pairs."""
    if isinstance(value, int) and not isinstance(value, bool):
        pair = normalize_tuple(value, 2, name, allow_zero=True)
        return (pair, pair)
    if hasattr(value, "__len__"):
        if len(value) != 2:
            raise ValueError(f"`{name}` should have two elements. Received: {value}.")
        return tuple(normalize_tuple(v, 2, f"{_ORDINALS[i]} entry of {name}", allow_zero=True)
                     for i, v in enumerate(value))
    raise ValueError(f"`{name}` should be either an int, a tuple of 2 ints {example[0]}, or a "
                     f"tuple of 2 tuples of 2 ints {example[1]}. Received: {value}.")


# ------------------------------------------------------------------ padding
@register
class ZeroPadding1D(Layer):
    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_tuple(padding, 2, "padding", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return ops.pad(inputs, [(0, 0), self.padding, (0, 0)])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@register
class ZeroPadding2D(Layer):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.padding = _pairs_2d(padding, "padding", (
            "(symmetric_height_pad, symmetric_width_pad)",
            "((top_pad, bottom_pad), (left_pad, right_pad))"))
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        if self.data_format == "channels_first":
            pads = [(0, 0), (0, 0)] + list(self.padding)
        else:
            pads = [(0, 0)] + list(self.padding) + [(0, 0)]
        return ops.pad(inputs, pads)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


# ------------------------------------------------------------------ cropping
def _crop(x, axes, crops):
    starts, ends, kept = [], [], []
    for axis, (lo, hi) in zip(axes, crops):
        if lo == 0 and hi == 0:
            continue
        kept.append(axis)
        starts.append(lo)
        ends.append(-hi if hi else None)
    if not kept:
        return x
    return ops.slice_axes(x, starts, ends, kept)


@register
class Cropping1D(Layer):
    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_tuple(cropping, 2, "cropping", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        steps = inputs.shape[1]
        if steps is not None and sum(self.cropping) >= steps:
            raise ValueError("cropping parameter of Cropping layer must be greater than the input "
                             f"shape. Received: inputs.shape={_fmt(tuple(inputs.shape))}, and "
                             f"cropping={self.cropping}")
        return _crop(inputs, [1], [self.cropping])

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


@register
class Cropping2D(Layer):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.cropping = _pairs_2d(cropping, "cropping", (
            "(symmetric_height_crop, symmetric_width_crop)",
            "((top_crop, bottom_crop), (left_crop, right_crop))"))
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        axes = [2, 3] if self.data_format == "channels_first" else [1, 2]
        for axis, crop in zip(axes, self.cropping):
            size = inputs.shape[axis]
            if size is not None and sum(crop) >= size:
                raise ValueError("Argument `cropping` must be greater than the input shape. "
                                 f"Received: inputs.shape={_fmt(tuple(inputs.shape))}, and "
                                 f"cropping={self.cropping}")
        return _crop(inputs, axes, self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


# ---------------------------------------------------------------- upsampling
def _repeat(x, size, axis, layer):
    """Repeat each element ``size`` times along ``axis`` (nearest upsampling)."""
    if size == 1:
        return x
    shape = tuple(x.shape)
    unknown = [i for i, d in enumerate(shape) if i > 0 and d is None]
    if not unknown:
        return ops.repeat(x, size, axis=axis)
    if len(unknown) > 1:
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}) needs at most one '
                         f"unknown non-batch dimension; received input shape {_fmt(shape)}. Give "
                         "the Input a fuller shape.")
    y = ops.expand_dims(x, axis + 1)
    reps = [1] * (len(shape) + 1)
    reps[axis + 1] = size
    y = ops.tile(y, reps)
    new = [None] + [-1 if d is None else (d * size if i == axis else d)
                    for i, d in enumerate(shape) if i > 0]
    return ops.reshape(y, new)


@register
class UpSampling1D(Layer):
    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        if self.size <= 0:
            raise ValueError(f"The `size` argument must be a positive integer. Received: {size}")
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return _repeat(inputs, self.size, 1, self)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


_TF_RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                      "mitchellcubic")


@register
class UpSampling2D(Layer):
    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.size = normalize_tuple(size, 2, "size")
        interpolation = str(interpolation).lower()
        if interpolation not in _TF_RESIZE_METHODS:
            raise NotImplementedError(
                f"Value not recognized for `interpolation`: {interpolation}. "
                f"Supported values are: dict_keys({list(_TF_RESIZE_METHODS)})")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D(interpolation={interpolation!r}) is not supported by "
                             "graphkeras; use 'nearest' or 'bilinear'.")
        self.interpolation = interpolation
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        if self.interpolation == "nearest":
            y = _repeat(_repeat(x, self.size[0], 1, self), self.size[1], 2, self)
        else:
            h, w = x.shape[1], x.shape[2]
            if h is None or w is None:
                raise ValueError("UpSampling2D(interpolation='bilinear') needs known spatial "
                                 f"sizes; received input shape {_fmt(tuple(inputs.shape))}.")
            y = ops.resize_bilinear(x, (h * self.size[0], w * self.size[1]))
        return to_data_format(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


__all__ = ["ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
           "UpSampling2D"]
