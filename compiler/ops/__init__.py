"""The op registry: every primitive, and the traced functions built on them.

``graphkeras.ops`` re-exports the public functions defined here.
"""
from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import PRIMITIVES, Primitive, register_tensor_operators

# `constant` carries an array in its attributes; tracing creates it for literals.
constant_p = Primitive("constant", lambda value: AVal(value.shape, value.dtype.name))
constant_p.def_impl(lambda value: value)


@constant_p.def_onnx
def _(b, node):
    return b.op("Constant", [], value=_tensor_proto(node.attrs["value"]))


constant_p.def_relax(lambda bb, node: bb.const(node.attrs["value"]))


def _tensor_proto(array):
    from onnx import numpy_helper
    return numpy_helper.from_array(array)


from graphkeras.compiler.ops.elementwise import *  # noqa: E402,F401,F403
from graphkeras.compiler.ops.elementwise import (  # noqa: E402,F401
    abs, add, cast, clip, divide, elu, equal, exp, greater, greater_equal, leaky_relu, less,
    less_equal, log, logical_and, logical_not, logical_or, maximum, minimum, mod, multiply,
    negative, floor_divide, power, promote, reciprocal, relu, rsqrt, selu, sigmoid, softplus,
    softsign, sqrt, square, subtract, tanh, where)
from graphkeras.compiler.ops.reduce import argmax, argmin, max, mean, min, prod, sum  # noqa: E402,F401,A004
from graphkeras.compiler.ops.shape import (  # noqa: E402,F401
    broadcast_to, concat, concatenate, expand_dims, flatten_batch, getitem, one_hot, pad, repeat,
    reshape, shape, slice_axes, split, split_leading, squeeze, stack, take, tile, transpose)
from graphkeras.compiler.ops.nn import log_softmax, matmul, resize_bilinear, softmax  # noqa: E402,F401
from graphkeras.compiler.ops.conv import conv, conv_transpose  # noqa: E402,F401
from graphkeras.compiler.ops.pool import average_pool, max_pool  # noqa: E402,F401

register_tensor_operators(globals())
from graphkeras.compiler.ops.random import hash_uniform, normal_like, uniform_like  # noqa: E402,F401
from graphkeras.compiler.ops.control import call_graph, scan  # noqa: E402,F401
from graphkeras.compiler.ops.linalg import einsum  # noqa: E402,F401
