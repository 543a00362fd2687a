"""Convolution layers: Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose,
DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D.

Arguments, defaults, weight names and order, configs and argument errors
follow tf.keras 2.x. Everything is computed channels-last with
``ops.conv``/``ops.conv_transpose``; ``data_format="channels_first"`` moves
the channel axis last, convolves, and moves it back.

``conv`` holds the ``Conv`` base and Conv1D/2D, ``conv_transpose``,
``depthwise_conv`` and ``separable_conv`` the other families. The argument
helpers live in ``graphkeras.layers.conv_utils`` (shared with the pooling and
reshaping layers) and are importable from here as before.
"""
from graphkeras.layers.conv_utils import (  # noqa: F401
    check_window_fits, normalize_data_format, normalize_padding, normalize_tuple,
    to_channels_last, to_data_format)
from graphkeras.layers.convolutional.conv import Conv, Conv1D, Conv2D  # noqa: F401
from graphkeras.layers.convolutional.conv_transpose import (  # noqa: F401
    Conv1DTranspose, Conv2DTranspose, ConvTranspose)
from graphkeras.layers.convolutional.depthwise_conv import (  # noqa: F401
    DepthwiseConv, DepthwiseConv1D, DepthwiseConv2D)
from graphkeras.layers.convolutional.separable_conv import (  # noqa: F401
    SeparableConv, SeparableConv1D, SeparableConv2D)

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
