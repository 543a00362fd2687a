"""``gk.ops``: the traced tensor ops for Lambda layers, custom layers and losses.

Each function runs eagerly on numpy arrays and records a node when given a
symbolic tensor, so the same code serves ``run_eagerly`` and compiled graphs.
"""
from graphkeras.compiler.ops import *  # noqa: F401,F403
from graphkeras.compiler.ops import (  # noqa: F401
    abs, add, argmax, argmin, average_pool, broadcast_to, cast, clip, concat, concatenate, conv,
    conv_transpose, divide, elu, equal, exp, expand_dims, floor_divide, getitem, greater,
    greater_equal, leaky_relu, less, less_equal, log, log_softmax, logical_and, logical_not,
    logical_or, matmul, max, max_pool, maximum, mean, min, minimum, mod, multiply, negative,
    normal_like, one_hot, pad, power, prod, reciprocal, relu, repeat, reshape, resize_bilinear,
    rsqrt, selu, shape, sigmoid, softmax, softplus, softsign, split, sqrt, square, squeeze, stack,
    subtract, sum, take, tanh, tile, transpose, uniform_like, where)
from graphkeras.compiler.ops.elementwise import (  # noqa: F401
    ceil, cos, erf, expm1, floor, isinf, isnan, log1p, not_equal, round, sign, sin, true_divide)

convert_to_tensor = __import__("numpy").asarray


def dot(a, b):
    return matmul(a, b)  # noqa: F405


def mean_squared_error(y_true, y_pred):
    return mean(square(subtract(y_pred, y_true)), axis=-1)  # noqa: F405
