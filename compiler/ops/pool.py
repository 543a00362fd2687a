"""Pooling primitives: max and average pooling, and max_pool_grad (the gradient of
max pooling). Channels-last, as the convolutions in ``conv.py``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import same_dtype
from graphkeras.compiler.ops._window import (
    _axis_paddings, _explicit_pads, _known_spatial, _onnx_pads, _padding, _relax_geometry,
    _relax_lowest, _relax_padded, _to_channels_first, _to_channels_last, _tuple, _window_out)
from graphkeras.compiler.ops.conv import conv_input_grad_p


# ------------------------------------------------------------------ pooling
def _pool_rule(x, pool, strides, padding):
    spatial = tuple(_window_out(n, k, s, 1, p) for n, k, s, p in
                    zip(x.shape[1:-1], pool, strides, _axis_paddings(padding, len(pool))))
    return AVal((x.shape[0],) + spatial + (x.shape[-1],), x.dtype)


def _pool_windows(x, pool, strides, padding, fill):
    nd = x.ndim - 2
    pads = _explicit_pads(x.shape[1:-1], pool, strides, (1,) * nd, padding)
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)], constant_values=fill)
    win = sliding_window_view(xp, pool, axis=tuple(range(1, nd + 1)))
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides)
    return win[index], tuple(range(-nd, 0))


max_pool_p = Primitive("max_pool", _pool_rule)


@max_pool_p.def_impl
def _(x, pool, strides, padding):
    win, axes = _pool_windows(x, pool, strides, padding, -np.inf)
    return win.max(axis=axes).astype(x.dtype)


avg_pool_p = Primitive("avg_pool", _pool_rule)


@avg_pool_p.def_impl
def _(x, pool, strides, padding):
    win, axes = _pool_windows(x, pool, strides, padding, 0)
    ones = np.ones((1,) + x.shape[1:-1] + (1,), dtype=x.dtype)
    count, _ = _pool_windows(ones, pool, strides, padding, 0)
    return (win.sum(axis=axes) / count.sum(axis=axes)).astype(x.dtype)


def _pool_onnx(op_type):
    def lower(b, node, x):
        a = node.attrs
        nd = len(node.inputs[0].shape) - 2
        pads = _onnx_pads(b, node, node.inputs[0].shape[1:-1], a["pool"], a["strides"], (1,) * nd,
                          a["padding"])
        if op_type == "MaxPool" and _channels_last_grad(a, node.inputs[0].shape) and \
                "max_pool_grad" in getattr(b, "readers", {}).get(id(node.inputs[0]), ()):
            # in a training step whose gradient reads x channels-last too (valid windows,
            # known sizes): channels as one more spatial axis of a single channel,
            # (N, 1, *spatial, C) with window 1 along C, so one transpose of x serves both
            # (ONNX Runtime's pooling of this layout is also faster than its reorder to
            # blocked channels and back). Not in inference graphs, where the blocked layout
            # runs from one convolution to the next. Reshapes, not Unsqueeze/Squeeze: ONNX
            # Runtime's transpose optimizer moves a transpose through an Unsqueeze, and would
            # transpose x twice when the gradient reads it too.
            xu = b.op("Reshape", [x, b.ints([-1, 1] + list(node.inputs[0].shape[1:]))])
            y = b.op(op_type, [xu], kernel_shape=list(a["pool"]) + [1],
                     strides=list(a["strides"]) + [1], pads=[0] * (2 * nd + 2))
            return b.op("Reshape", [y, b.ints([-1] + list(node.outputs[0].shape[1:]))])
        y = b.op(op_type, [_to_channels_first(b, x, nd)], kernel_shape=list(a["pool"]),
                 strides=list(a["strides"]), **pads)
        return _to_channels_last(b, y, nd)
    return lower


max_pool_p.def_onnx(_pool_onnx("MaxPool"))
avg_pool_p.def_onnx(_pool_onnx("AveragePool"))  # count_include_pad=0, as TensorFlow


def _relax_pool(kind):
    """Max: the NaN-propagating maximum over each window of x padded with -inf. Average:
    the window sums of x padded with zeros, over the number of real elements."""
    def rule(bb, node, x):
        a = node.attrs
        pool, strides = a["pool"], a["strides"]
        nd = len(pool)
        dtype = node.inputs[0].dtype

        def compute(xt):
            te, tir = bb.te, bb.tir
            pads, out = _relax_geometry(bb, bb.shape(xt)[1:-1], pool, strides, (1,) * nd,
                                        a["padding"])
            fill = _relax_lowest(bb, dtype) if kind == "max" else tir.const(0, dtype)
            xp = _relax_padded(bb, xt, pads, fill)
            red = [te.reduce_axis((0, bb.prim(k)), name=f"k{i}") for i, k in enumerate(pool)]
            reducer = bb.reducer("max") if kind == "max" else te.sum
            shape = [xt.shape[0]] + [bb.prim(o) for o in out] + [xt.shape[-1]]
            y = te.compute(shape, lambda b, *r: reducer(xp[(b, *[o * s + k for o, s, k in zip(
                r[:nd], strides, red)], r[nd])], axis=red), name=f"{kind}_pool")
            if kind == "max":
                return y

            def mean(b, *r):
                count = 1
                for o, s, k, n, (lo, _) in zip(r[:nd], strides, pool, xt.shape[1:-1], pads):
                    start = o * s - lo
                    count = count * (tir.min(start + k, n) - tir.max(start, 0))
                return y[(b, *r)] / tir.Cast(dtype, count)
            return te.compute(shape, mean, name="avg_pool")
        return bb.emit_te(compute, x, name=f"{kind}_pool")
    return rule


max_pool_p.def_relax(_relax_pool("max"))
avg_pool_p.def_relax(_relax_pool("avg"))


@max_pool_p.def_vjp
def _(g, y, x, pool, strides, padding):
    """Forward: y[o] = max of x over window o (padding never wins).
    Backward: each g[o] goes to the (first) position of its window's max; overlapping
    windows add up (max_pool_grad)."""
    return [max_pool_grad_p.bind(g, x, pool=pool, strides=strides, padding=padding)]


@avg_pool_p.def_vjp
def _(g, y, x, pool, strides, padding):
    """Forward: y[o] = sum of x over window o / count[o] (count excludes padding, as TF).
    Backward: dx = g / count spread back over each window: a depthwise transposed
    convolution with a ones kernel (conv_input_grad, groups = channels)."""
    from graphkeras.compiler.ops.elementwise import divide
    nd = len(x.shape) - 2
    spatial = _known_spatial(x, "avg_pool")
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("The gradient of 'avg_pool' needs a known number of channels; received "
                         f"input shape {tuple(x.shape)}.")
    dtype = np.dtype(g.dtype)
    count, axes = _pool_windows(np.ones((1,) + spatial + (1,), dtype), pool, strides, padding, 0)
    count = count.sum(axis=axes).astype(dtype)  # (1, *out, 1)
    ones = np.ones(tuple(pool) + (1, channels), dtype)
    pads = tuple(_explicit_pads(spatial, pool, strides, (1,) * nd, padding))
    return [conv_input_grad_p.bind(divide(g, count), ones, input_spatial=spatial, strides=strides,
                                   dilations=(1,) * nd, pads=pads, groups=channels)]


# max_pool_grad(g, x): adds each g[o] at the first maximum of x's window o (as TF's
# MaxPoolGrad), -> x's shape. ONNX: MaxPool's Indices output (row-major flat positions in the
# unpadded input; reduced modulo the spatial size, so per (batch, channel) plane) and a
# ScatterElements(reduction="add") into zeros, which sums overlapping windows.
max_pool_grad_p = Primitive("max_pool_grad", lambda g, x, pool, strides, padding:
                            AVal(x.shape, same_dtype(g, x)))


@max_pool_grad_p.def_impl
def _(g, x, pool, strides, padding):
    nd = x.ndim - 2
    spatial = x.shape[1:-1]
    pads = _explicit_pads(spatial, pool, strides, (1,) * nd, padding)
    win, _ = _pool_windows(x, pool, strides, padding, -np.inf)  # N, *out, C, *pool
    first = win.reshape(win.shape[:nd + 2] + (-1,)).argmax(axis=-1)  # row-major: first max
    offsets = np.unravel_index(first, tuple(pool))
    rank = x.ndim
    index = [np.arange(x.shape[0]).reshape((-1,) + (1,) * (rank - 1))]
    for i in range(nd):
        rows = np.arange(g.shape[i + 1]).reshape((1,) * (i + 1) + (-1,) + (1,) * (rank - i - 2))
        index.append(rows * strides[i] + offsets[i])
    index.append(np.arange(x.shape[-1]))
    padded = np.zeros((x.shape[0],) + tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
                      + (x.shape[-1],), dtype=np.result_type(g, x))
    np.add.at(padded, tuple(index), g)
    crop = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pads))
    return padded[crop]


def _max_pool_grad_tiles(b, node, g, x):
    """Non-overlapping windows (strides == pool, valid padding, known sizes, 1-D or 2-D):
    view x as tiles (N, o1, p1, o2, p2, C) with a free reshape, find each tile's first
    maximum in row-major order (first in its row, in the first row holding the tile's
    maximum), and put g there. No transposes and no scatter: a few dense passes, far
    faster on ONNX Runtime than MaxPool indices + ScatterElements."""
    a = node.attrs
    pool = list(a["pool"])
    nd = len(pool)
    shape = node.inputs[1].shape
    out = [n // p for n, p in zip(shape[1:-1], pool)]
    c = shape[-1]
    used = [o * p for o, p in zip(out, pool)]
    if used != list(shape[1:-1]):  # rows/columns no window reads get no gradient
        x = b.op("Slice", [x, b.ints([0] * nd), b.ints(used), b.ints(range(1, nd + 1))])
    tiled = []
    for o, p in zip(out, pool):
        tiled += [o, p]
    xt = b.op("Reshape", [x, b.ints([-1] + tiled + [c])])
    window_axes = [2 + 2 * i for i in range(nd)]

    def first_max(t, axis):
        """Where ``t`` holds the first maximum along ``axis`` (row-major tie rule),
        and that maximum: ReduceMax, Equal and a CumSum of the hits (ONNX Runtime's
        ArgMax along a short inner axis is several times slower)."""
        top = b.reduce("ReduceMax", t, [axis], keepdims=True)
        eq = b.op("Equal", [t, top])
        count = b.op("CumSum", [b.cast(eq, "float32"), b.const(np.int64(axis))])
        return b.op("And", [eq, b.op("Equal", [count, b.const(np.float32(1))])]), top

    hit, row_max = first_max(xt, window_axes[-1])
    if nd == 2:  # of the rows, the first whose maximum is the tile's
        first_row, _ = first_max(row_max, window_axes[0])
        hit = b.op("And", [hit, first_row])
    g_shape = []
    for o in out:
        g_shape += [o, 1]
    gt = b.op("Reshape", [g, b.ints([-1] + g_shape + [c])])
    dx = b.op("Mul", [b.cast(hit, node.inputs[0].dtype), gt])  # Where is far slower in ORT
    dx = b.op("Reshape", [dx, b.ints([-1] + used + [c])])
    if used != list(shape[1:-1]):
        tail = [n - u for n, u in zip(shape[1:-1], used)]
        dx = b.op("Pad", [dx, b.ints([0] * (nd + 2) + [0] + tail + [0])])
    return dx


def _max_pool_grad_pairs(b, node, g, x):
    """Windows of 2 (or 2x2), strides 2, valid padding, known sizes: the first maximum of
    each pair is found by comparing its two halves (u >= v: u, else v), sliced from a
    reshape of x; in 2-D first within the two rows, then between the row maxima (row-major
    order, as numpy's argmax). Every comparison and product runs on half or quarter tensors:
    about half the full-size passes of the tiles lowering."""
    nd = len(node.attrs["pool"])
    shape = node.inputs[1].shape
    dtype = node.inputs[0].dtype
    out = [n // 2 for n in shape[1:-1]]
    c = shape[-1]
    used = [2 * o for o in out]
    if used != list(shape[1:-1]):  # rows/columns no window reads get no gradient
        x = b.op("Slice", [x, b.ints([0] * nd), b.ints(used), b.ints(range(1, nd + 1))])
    # (N*o1, a, o2, b, C) in 2-D, (N, o, b, C) in 1-D
    xr = b.op("Reshape", [x, b.ints([-1] + ([2] if nd == 2 else []) + [out[-1], 2, c])])
    axis = nd + 1  # the b axis (pair within a row)
    u = b.op("Slice", [xr, b.ints([0]), b.ints([1]), b.ints([axis])])
    # v from another view of x: ONNX Runtime fuses two Slices of one tensor into a Split,
    # which is several times slower when each piece is only C wide
    v = b.op("Slice", [b.op("Reshape", [x, b.ints([-1, 2, c])]), b.ints([1]), b.ints([2]),
                       b.ints([1])])
    v = b.op("Reshape", [v, b.ints([-1] + ([2] if nd == 2 else []) + [out[-1], 1, c])])
    first_u = b.op("GreaterOrEqual", [u, v])
    gq = b.op("Reshape", [g, b.ints([-1] + ([1] if nd == 2 else []) + [out[-1], 1, c])])
    if nd == 2:  # of the two rows, the first whose maximum is the window's
        rows = b.op("Max", [u, v])
        r0 = b.op("Slice", [rows, b.ints([0]), b.ints([1]), b.ints([1])])
        r1 = b.op("Slice", [rows, b.ints([1]), b.ints([2]), b.ints([1])])
        top = b.op("GreaterOrEqual", [r0, r1])
        g0 = b.op("Mul", [b.cast(top, dtype), gq])
        gq = b.op("Concat", [g0, b.op("Sub", [gq, g0])], axis=1)
    # g * mask and g - g * mask: exact for a finite g (as the masks of the other gradients)
    du = b.op("Mul", [b.cast(first_u, dtype), gq])
    dv = b.op("Sub", [gq, du])
    dx = b.op("Reshape", [b.op("Concat", [du, dv], axis=axis), b.ints([-1] + used + [c])])
    if used != list(shape[1:-1]):
        tail = [n - u_ for n, u_ in zip(shape[1:-1], used)]
        dx = b.op("Pad", [dx, b.ints([0] * (nd + 2) + [0] + tail + [0])])
    return dx


def _channels_last_grad(attrs, shape):
    """Whether max_pool_grad lowers channels-last (tiles or pairs), not by MaxPool indices."""
    return attrs["padding"] == "valid" and list(attrs["strides"]) == list(attrs["pool"]) and \
        len(shape) - 2 <= 2 and all(n is not None for n in shape[1:])


@max_pool_grad_p.def_onnx
def _(b, node, g, x):
    a = node.attrs
    nd = len(node.inputs[1].shape) - 2
    spatial = node.inputs[1].shape[1:-1]
    if _channels_last_grad(a, node.inputs[1].shape):
        if all(p == 2 for p in a["pool"]):
            return _max_pool_grad_pairs(b, node, g, x)
        return _max_pool_grad_tiles(b, node, g, x)
    pads = _onnx_pads(b, node, spatial, a["pool"], a["strides"], (1,) * nd, a["padding"])
    xc = _to_channels_first(b, x, nd)
    _, indices = b.op("MaxPool", [xc], n_out=2, kernel_shape=list(a["pool"]),
                      strides=list(a["strides"]), **pads)
    if any(n is None for n in spatial):
        plane = b.op("ReduceProd", [b.op("Shape", [xc], start=2)], keepdims=1)
    else:
        plane = b.ints([int(np.prod(spatial))])
    # the indices count whole (N, C) planes too: keep the position within the plane
    indices = b.op("Mod", [b.op("Reshape", [indices, b.ints([0, 0, -1])]), plane])
    updates = b.op("Reshape", [_to_channels_first(b, g, nd), b.ints([0, 0, -1])])
    flat = b.op("Reshape", [xc, b.ints([0, 0, -1])])
    zeros = b.op("Expand", [b.const(np.zeros((), node.inputs[0].dtype)), b.op("Shape", [flat])])
    dx = b.op("ScatterElements", [zeros, indices, updates], axis=2, reduction="add")
    dx = b.op("Reshape", [dx, b.op("Shape", [xc])])
    return _to_channels_last(b, dx, nd)


@max_pool_grad_p.def_relax
def _(bb, node, g, x):
    """Two TE stages: each window's first maximum (row-major, as numpy's argmax) as a flat
    offset in the window; then dx[i] = sum of g[o] over the windows o whose first maximum
    sits at i (no scatter)."""
    a = node.attrs
    pool, strides = a["pool"], a["strides"]
    nd = len(pool)
    dtype = node.inputs[1].dtype
    mults = [int(np.prod(pool[i + 1:])) for i in range(nd)]

    def compute(gt, xt):
        te, tir = bb.te, bb.tir
        pads, _ = _relax_geometry(bb, bb.shape(xt)[1:-1], pool, strides, (1,) * nd, a["padding"])
        xp = _relax_padded(bb, xt, pads, _relax_lowest(bb, dtype))

        def combine(p, q):  # (offset, value): the larger value; on ties the earlier offset
            take = tir.Or(p[1] > q[1], tir.And(p[1] == q[1], p[0] < q[0]))
            return tir.Select(take, p[0], q[0]), tir.Select(take, p[1], q[1])

        first_max = te.comm_reducer(combine, lambda t0, t1: (
            tir.max_value(t0), _relax_lowest(bb, t1)), name="first_max")
        red = [te.reduce_axis((0, bb.prim(k)), name=f"k{i}") for i, k in enumerate(pool)]

        def window(b, *r):
            flat = sum(k * m for k, m in zip(red, mults))
            value = xp[(b, *[o * s + k for o, s, k in zip(r[:nd], strides, red)], r[nd])]
            return first_max((flat, value), axis=red)
        where, _ = te.compute(gt.shape, window, name="first_max")
        red2 = [te.reduce_axis((0, bb.prim(k)), name=f"j{i}") for i, k in enumerate(pool)]

        def spread(b, *r):
            conds, o = [], []
            for i, k, s, (lo, _), n in zip(r[:nd], red2, strides, pads, gt.shape[1:-1]):
                p = i + lo - k
                conds += [p >= 0, tir.floordiv(p, s) < n]
                if s > 1:
                    conds.append(tir.floormod(p, s) == 0)
                o.append(tir.floordiv(p, s))
            flat = sum(k * m for k, m in zip(red2, mults))
            at = (b, *o, r[nd])
            value = tir.if_then_else(tir.all(*conds), tir.Select(
                where[at] == flat, gt[at], tir.const(0, gt.dtype)), tir.const(0, gt.dtype))
            return te.sum(value, axis=red2)
        return te.compute(xt.shape, spread, name="max_pool_grad")
    return bb.emit_te(compute, g, x, name="max_pool_grad")


def max_pool(x, pool_size, strides=None, padding="valid"):
    nd = len(x.shape) - 2
    pool = _tuple(pool_size, nd)
    return max_pool_p.bind(x, pool=pool, strides=pool if strides is None else _tuple(strides, nd),
                           padding=_padding(padding))


def average_pool(x, pool_size, strides=None, padding="valid"):
    nd = len(x.shape) - 2
    pool = _tuple(pool_size, nd)
    return avg_pool_p.bind(x, pool=pool, strides=pool if strides is None else _tuple(strides, nd),
                           padding=_padding(padding))
