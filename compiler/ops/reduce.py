"""Reductions: sum, mean, max, min, prod over axes; argmax, argmin."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import normalize_axes, normalize_axis


def _reduce_rule(x: AVal, axes, keepdims):
    if keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return AVal(shape, x.dtype)


# name -> (numpy kernel, ONNX operator)
_REDUCTIONS = {
    "reduce_sum": (np.sum, "ReduceSum"),
    "reduce_mean": (np.mean, "ReduceMean"),
    "reduce_max": (np.max, "ReduceMax"),
    "reduce_min": (np.min, "ReduceMin"),
    "reduce_prod": (np.prod, "ReduceProd"),
}
REDUCE_PRIMITIVES: dict[str, Primitive] = {}

for _name, (_kernel, _onnx_op) in _REDUCTIONS.items():
    _p = Primitive(_name, _reduce_rule)
    _p.def_impl((lambda k: lambda x, axes, keepdims: np.asarray(
        k(x, axis=tuple(axes), keepdims=keepdims), dtype=x.dtype))(_kernel))
    # no axes: no reduction (ONNX would reduce over all axes)
    _p.def_onnx((lambda op: lambda b, node, x: b.reduce(
        op, x, node.attrs["axes"], node.attrs["keepdims"]) if node.attrs["axes"]
        else b.op("Identity", [x]))(_onnx_op))
    REDUCE_PRIMITIVES[_name] = _p


def _arg_rule(x: AVal, axis, keepdims):
    return AVal(_reduce_rule(x, (axis,), keepdims).shape, "int64")


argmax_p = Primitive("argmax", _arg_rule)
argmax_p.def_impl(lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64))
argmax_p.def_onnx(lambda b, node, x: b.op("ArgMax", [x], axis=node.attrs["axis"],
                                          keepdims=int(node.attrs["keepdims"])))

argmin_p = Primitive("argmin", _arg_rule)
argmin_p.def_impl(lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims).astype(np.int64))
argmin_p.def_onnx(lambda b, node, x: b.op("ArgMin", [x], axis=node.attrs["axis"],
                                          keepdims=int(node.attrs["keepdims"])))


def _ndim(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def _reducer(prim):
    def fn(x, axis=None, keepdims=False):
        if not hasattr(x, "shape"):
            x = np.asarray(x, dtype=np.float32)
        axes = normalize_axes(axis, _ndim(x))
        return prim.bind(x, axes=axes, keepdims=bool(keepdims))
    fn.__name__ = prim.name
    return fn


sum = _reducer(REDUCE_PRIMITIVES["reduce_sum"])  # noqa: A001  (gk.ops.sum, as keras.ops)
mean = _reducer(REDUCE_PRIMITIVES["reduce_mean"])
max = _reducer(REDUCE_PRIMITIVES["reduce_max"])  # noqa: A001
min = _reducer(REDUCE_PRIMITIVES["reduce_min"])  # noqa: A001
prod = _reducer(REDUCE_PRIMITIVES["reduce_prod"])


def argmax(x, axis=-1, keepdims=False):
    return argmax_p.bind(x, axis=normalize_axis(axis, _ndim(x)), keepdims=bool(keepdims))


def argmin(x, axis=-1, keepdims=False):
    return argmin_p.bind(x, axis=normalize_axis(axis, _ndim(x)), keepdims=bool(keepdims))
