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


@REDUCE_PRIMITIVES["reduce_sum"].def_onnx
def _(b, node, x):
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    shape, dtype = node.inputs[0].shape, node.inputs[0].dtype
    if not axes:  # no axes: no reduction (ONNX would reduce over all axes)
        return b.op("Identity", [x])
    if len(shape) >= 2 and list(axes) == list(range(len(shape) - 1)) and not keepdims \
            and shape[-1] is not None and dtype in ("float32", "float64"):
        # column sums (a bias gradient): ones @ x, ~10x faster in ONNX Runtime than a
        # ReduceSum over the leading axes
        rows = b.op("Reshape", [x, b.ints([-1, shape[-1]])])
        count = b.op("Shape", [rows], start=0, end=1)
        ones = b.op("Expand", [b.const(np.ones((1, 1), dtype)), b.op("Concat", [b.ints([1]), count],
                                                                     axis=0)])
        return b.op("Reshape", [b.op("MatMul", [ones, rows]), b.ints([shape[-1]])])
    return b.reduce("ReduceSum", x, axes, keepdims)


# TVM Relax: Relax's reductions; max/min as TE reductions that propagate NaN (numpy's)
def _relax_reduce(op):
    def rule(bb, node, x):
        axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
        if not axes:
            return x
        if op in ("max", "min"):
            return bb.reduce(x, axes, keepdims, bb.reducer(op), name=f"reduce_{op}")
        return getattr(bb.op, op)(x, axis=list(axes), keepdims=keepdims)
    return rule


for _name, _op in (("reduce_sum", "sum"), ("reduce_mean", "mean"), ("reduce_max", "max"),
                   ("reduce_min", "min"), ("reduce_prod", "prod")):
    REDUCE_PRIMITIVES[_name].def_relax(_relax_reduce(_op))


def _keep(g, axes, keepdims):
    from graphkeras.compiler.ops.shape import unsqueeze_p
    return g if keepdims or not axes else unsqueeze_p.bind(g, axes=tuple(axes))


def _sum_vjp(g, y, x, axes, keepdims):
    from graphkeras.compiler.ops.shape import broadcast_like
    return [broadcast_like(_keep(g, axes, keepdims), x)]


def _mean_vjp(g, y, x, axes, keepdims):
    from graphkeras.compiler.ops.elementwise import divide
    return [divide(_sum_vjp(g, y, x, axes, keepdims)[0], dim_size(x, axes, g.dtype))]


def _extremum_vjp(g, y, x, axes, keepdims):
    """Split the gradient evenly among the elements equal to the extremum (tf's rule)."""
    from graphkeras.compiler.ops.elementwise import cast, divide, equal, multiply
    from graphkeras.compiler.ops.shape import broadcast_like
    hit = cast(equal(x, broadcast_like(_keep(y, axes, keepdims), x)), g.dtype)
    count = REDUCE_PRIMITIVES["reduce_sum"].bind(hit, axes=tuple(axes), keepdims=True)
    return [multiply(divide(hit, count), broadcast_like(_keep(g, axes, keepdims), x))]


def _prod_vjp(g, y, x, axes, keepdims):
    from graphkeras.compiler.ops.elementwise import divide, multiply
    from graphkeras.compiler.ops.shape import broadcast_like
    return [multiply(broadcast_like(_keep(multiply(g, y), axes, keepdims), x), divide(1.0, x))]


for _name, _rule in (("reduce_sum", _sum_vjp), ("reduce_mean", _mean_vjp),
                     ("reduce_max", _extremum_vjp), ("reduce_min", _extremum_vjp),
                     ("reduce_prod", _prod_vjp)):
    REDUCE_PRIMITIVES[_name].def_vjp(_rule)


# The number of elements over ``axes``, as a scalar of ``dtype`` (read at run time).
dim_size_p = Primitive("dim_size", lambda x, axes, dtype: AVal((), dtype))
dim_size_p.def_impl(lambda x, axes, dtype: np.asarray(
    int(np.prod([x.shape[a] for a in axes])), dtype=dtype))


@dim_size_p.def_onnx
def _(b, node, x):
    shape = b.op("Shape", [x])
    dims = b.op("Gather", [shape, b.ints(node.attrs["axes"])], axis=0)
    size = b.reduce("ReduceProd", dims, [0], keepdims=False)
    return b.cast(size, node.attrs["dtype"])


@dim_size_p.def_relax
def _(bb, node, x):
    def compute(t):
        size = 1
        for a in node.attrs["axes"]:
            size = size * t.shape[a]
        return bb.te.compute((), lambda: bb.tir.Cast(node.attrs["dtype"], bb.prim(size)), name="dim_size")
    return bb.emit_te(compute, x, name="dim_size")


def dim_size(x, axes, dtype="float32"):
    """Elements over ``axes``: a constant when the sizes are known, else read at run time."""
    axes = tuple(axes)
    dtype = np.dtype(dtype).name
    sizes = [x.shape[a] for a in axes]
    if all(n is not None for n in sizes):
        return np.asarray(int(np.prod(sizes)), dtype=dtype)
    return dim_size_p.bind(x, axes=axes, dtype=dtype)


def _arg_rule(x: AVal, axis, keepdims):
    return AVal(_reduce_rule(x, (axis,), keepdims).shape, "int64")


argmax_p = Primitive("argmax", _arg_rule)
argmax_p.def_impl(lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64))
argmax_p.def_onnx(lambda b, node, x: b.op("ArgMax", [x], axis=node.attrs["axis"],
                                          keepdims=int(node.attrs["keepdims"])))
argmax_p.def_relax(lambda bb, node, x: bb.op.argmax(x, node.attrs["axis"],
                                                   node.attrs["keepdims"]))

argmin_p = Primitive("argmin", _arg_rule)
argmin_p.def_impl(lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims).astype(np.int64))
argmin_p.def_onnx(lambda b, node, x: b.op("ArgMin", [x], axis=node.attrs["axis"],
                                          keepdims=int(node.attrs["keepdims"])))
argmin_p.def_relax(lambda bb, node, x: bb.op.argmin(x, node.attrs["axis"],
                                                   node.attrs["keepdims"]))


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
