"""``TFOpLambda``: one tensor op applied to functional-API tensors.

In tf.keras 2.x, ``inputs * 2`` or ``tf.concat([a, b], 1)`` on KerasTensors
records a ``TFOpLambda`` layer named after the TensorFlow function
(``"__operators__.add"``, ``"math.multiply"``, ``"concat"``...). graphkeras
records the same layer for operators and ``gk.ops`` calls on KerasTensors,
and reads tf.keras' JSON for the TensorFlow functions listed in
:data:`FUNCTIONS`, taking their TensorFlow argument names.
"""
from __future__ import annotations

import numpy as np

from graphkeras import backend, serialization
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import Layer


def _reduce(fn):
    def reduce(input_tensor, axis=None, keepdims=False, name=None):
        return fn(input_tensor, axis=axis, keepdims=keepdims)
    return reduce


def _binary(fn):
    def binary(x, y, name=None):
        return fn(x, y)
    return binary


def _unary(fn):
    def unary(x, name=None):
        return fn(x)
    return unary


def _matmul(a, b, transpose_a=False, transpose_b=False, name=None, **_):
    if transpose_a:
        a = ops.transpose(a, list(range(len(a.shape) - 2)) + [len(a.shape) - 1, len(a.shape) - 2])
    if transpose_b:
        b = ops.transpose(b, list(range(len(b.shape) - 2)) + [len(b.shape) - 1, len(b.shape) - 2])
    return ops.matmul(a, b)


def _getitem(tensor, slice_spec, var=None):
    def one(spec):
        if isinstance(spec, dict):
            return slice(spec.get("start"), spec.get("stop"), spec.get("step"))
        if spec == "...":
            return Ellipsis
        return spec
    index = tuple(one(s) for s in slice_spec) if isinstance(slice_spec, (list, tuple)) \
        else one(slice_spec)
    return ops.getitem(tensor, index)


def _reshape(tensor, shape, name=None):
    shape = list(shape)
    if shape and shape[0] in (-1, None) and tensor.shape[0] is None:
        shape[0] = None
    return ops.reshape(tensor, shape)


FUNCTIONS = {
    "__operators__.add": _binary(ops.add),
    "math.add": _binary(ops.add),
    "math.subtract": _binary(ops.subtract),
    "math.multiply": _binary(ops.multiply),
    "math.truediv": _binary(ops.divide),
    "math.divide": _binary(ops.divide),
    "math.maximum": _binary(ops.maximum),
    "math.minimum": _binary(ops.minimum),
    "math.pow": _binary(ops.power),
    "math.greater": _binary(ops.greater),
    "math.greater_equal": _binary(ops.greater_equal),
    "math.less": _binary(ops.less),
    "math.less_equal": _binary(ops.less_equal),
    "math.equal": _binary(ops.equal),
    "math.negative": _unary(ops.negative),
    "math.abs": _unary(ops.abs),
    "math.exp": _unary(ops.exp),
    "math.log": _unary(ops.log),
    "math.sqrt": _unary(ops.sqrt),
    "math.rsqrt": _unary(ops.rsqrt),
    "math.square": _unary(ops.square),
    "math.tanh": _unary(ops.tanh),
    "math.sigmoid": _unary(ops.sigmoid),
    "math.erf": _unary(ops.elementwise.erf),
    "nn.relu": lambda features, name=None: ops.relu(features),
    "nn.softmax": lambda logits, axis=-1, name=None: ops.softmax(logits, axis=axis),
    "math.reduce_sum": _reduce(ops.sum),
    "math.reduce_mean": _reduce(ops.mean),
    "math.reduce_max": _reduce(ops.max),
    "math.reduce_min": _reduce(ops.min),
    "math.reduce_prod": _reduce(ops.prod),
    "math.argmax": lambda input, axis=None, output_type=None, name=None: ops.argmax(
        input, -1 if axis is None else axis),
    "reshape": _reshape,
    "concat": lambda values, axis, name=None: ops.concatenate(values, axis=axis),
    "stack": lambda values, axis=0, name=None: ops.stack(values, axis=axis),
    "expand_dims": lambda input, axis, name=None: ops.expand_dims(input, axis),
    "squeeze": lambda input, axis=None, name=None: ops.squeeze(input, axis),
    "compat.v1.transpose": lambda a, perm=None, name=None, conjugate=False: ops.transpose(a, perm),
    "transpose": lambda a, perm=None, conjugate=False, name=None: ops.transpose(a, perm),
    "cast": lambda x, dtype, name=None: ops.cast(x, dtype),
    "linalg.matmul": _matmul,
    "matmul": _matmul,
    "clip_by_value": lambda t, clip_value_min, clip_value_max, name=None: ops.clip(
        t, clip_value_min, clip_value_max),
    "where": lambda condition, x=None, y=None, name=None: ops.where(condition, x, y),
    "tile": lambda input, multiples, name=None: ops.tile(input, multiples),
    "ones_like": lambda input, dtype=None, name=None: ops.add(
        ops.multiply(input, np.zeros((), input.dtype)), np.ones((), input.dtype)),
    "zeros_like": lambda input, dtype=None, name=None: ops.multiply(input, np.zeros((), input.dtype)),
    "__operators__.getitem": _getitem,
}


def _lookup(function: str):
    if function.startswith("ops."):
        from graphkeras import ops as gk_ops
        fn = getattr(gk_ops, function[4:], None)
        if fn is not None:
            return getattr(fn, "__wrapped__", fn)
    fn = FUNCTIONS.get(function)
    if fn is None:
        raise ValueError(f"TFOpLambda: the TensorFlow function {function!r} has no graphkeras "
                         f"equivalent. Known functions: {sorted(FUNCTIONS)}. Rewrite that step as "
                         "a layer or a gk.ops call.")
    return fn


@serialization.register("layer", "TFOpLambda", "SlicingOpLambda")
class TFOpLambda(Layer):
    _preserve_input_structure = True  # ``concat([a, b])`` keeps its list in the config

    def __init__(self, function, **kwargs):
        self.function = function
        self._fn = _lookup(function)
        if kwargs.get("name") is None:
            kwargs["name"] = backend.unique_name(("tf." if not function.startswith("ops.")
                                                  else "gk.") + function)
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("name", "trainable", "dtype")})

    def call(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self._fn(*args, **kwargs)

    def get_config(self):
        return {**super().get_config(), "function": self.function}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def apply_op(function: str, *args, **kwargs):
    """Record ``function(*args, **kwargs)`` on KerasTensors as a TFOpLambda node."""
    return TFOpLambda(function)(*args, **kwargs)
