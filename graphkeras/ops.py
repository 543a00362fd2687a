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
    ceil, cos, erf, expm1, floor, isinf, isnan, log1p, not_equal, round, sign, sin, stop_gradient,
    true_divide)

convert_to_tensor = __import__("numpy").asarray


def dot(a, b):
    return matmul(a, b)  # noqa: F405


def mean_squared_error(y_true, y_pred):
    return mean(square(subtract(y_pred, y_true)), axis=-1)  # noqa: F405


def _accept_keras_tensors(namespace):
    """Make each op record a TFOpLambda node when given functional-API tensors."""
    import functools

    from graphkeras.engine.keras_tensor import KerasTensor, flatten

    def wrap(name, fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if any(isinstance(t, KerasTensor) for t in flatten((list(args), kwargs))):
                from graphkeras.layers.op_lambda import apply_op
                return apply_op("ops." + name, *args, **kwargs)
            return fn(*args, **kwargs)
        return op

    for name, fn in list(namespace.items()):
        if callable(fn) and not name.startswith("_") and not isinstance(fn, type) \
                and getattr(fn, "__module__", "").startswith("graphkeras"):
            namespace[name] = wrap(name, fn)


_accept_keras_tensors(globals())
