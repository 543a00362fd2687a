"""Neural-network primitives: matmul, softmax, log_softmax and bilinear resize.

Convolutions live in ``conv.py``, pooling in ``pool.py``, and the window/padding
helpers they share in ``_window.py``.
"""
from __future__ import annotations


import numpy as np

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import broadcast_shapes, normalize_axis, same_dtype
from graphkeras.compiler.ops._window import _known_spatial, _to_channels_first, _to_channels_last
from graphkeras.compiler.ops.shape import reshape_p, transpose_p


# ------------------------------------------------------------------- matmul
def _matmul_rule(a: AVal, b: AVal):
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ValueError(f"matmul needs operands of rank >= 2; received {a.shape} and {b.shape}.")
    k1, k2 = a.shape[-1], b.shape[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}.")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return AVal(batch + (a.shape[-2], b.shape[-1]), same_dtype(a, b))


matmul_p = Primitive("matmul", _matmul_rule)
matmul_p.def_impl(lambda a, b: np.matmul(a, b))
matmul_p.def_onnx(lambda b, node, x, y: b.op("MatMul", [x, y]))


@matmul_p.def_relax
def _(bb, node, x, y):
    """Relax's matmul; a 2-D product whose operand is a transpose (the gradients' a^T @ g and
    g @ w^T) reads the untransposed tensor in one TE kernel instead."""
    if len(node.inputs[0].shape) != 2 or len(node.inputs[1].shape) != 2:
        return _relax_batched_matmul(bb, node, x, y)
    a, ta = _relax_untransposed(bb, x)
    b, tb = _relax_untransposed(bb, y)
    if not (ta or tb):
        return bb.op.matmul(x, y)

    def compute(at, bt):
        te = bb.te
        m = at.shape[1] if ta else at.shape[0]
        n = bt.shape[0] if tb else bt.shape[1]
        k = te.reduce_axis((0, at.shape[0] if ta else at.shape[1]), name="k")
        return te.compute((m, n), lambda i, j: te.sum(
            (at[k, i] if ta else at[i, k]) * (bt[j, k] if tb else bt[k, j]), axis=k),
            name="matmul")
    return bb.emit_te(compute, a, b, name="matmul_" + ("t" if ta else "n") + ("t" if tb else "n"))


def _relax_untransposed(bb, x):
    """``(source, True)`` when ``x`` is the transpose of a 2-D ``source``, else ``(x, False)``."""
    binding = bb.block.lookup_binding(x) if isinstance(x, bb.relax.Var) else None
    if binding is not None and isinstance(binding, bb.relax.Call) and \
            getattr(binding.op, "name", "") == "relax.permute_dims" and \
            list(binding.attrs.axes) == [1, 0]:
        return binding.args[0], True
    return x, False


def _relax_batched_matmul(bb, node, x, y):
    """A product of rank > 2. Where ``y`` swaps the last two axes of a tensor (attention's
    ``q @ k^T``, the gradients' ``g @ b^T``), one TE kernel reads that tensor instead: left
    to Relax, TVM's FuseTransposeMatmul would fold the pair, but it builds broken fused
    functions when the transpose has other users too (a forward product and its gradient
    share it: operands swapped, a tuple where a tensor is expected) or when both operands
    are one tensor (``q @ q^T``: an index error)."""
    binding = bb.block.lookup_binding(y) if isinstance(y, bb.relax.Var) else None
    axes = None
    if isinstance(binding, bb.relax.Call) and binding.attrs is not None and \
            getattr(binding.op, "name", "") == "relax.permute_dims" and \
            binding.attrs.axes is not None:
        axes = [int(a) for a in binding.attrs.axes]
    rank = len(node.inputs[1].shape)
    if axes != list(range(rank - 2)) + [rank - 1, rank - 2] or len(node.inputs[0].shape) < 2:
        return bb.op.matmul(x, y)
    src = binding.args[0]

    def compute(at, bt):
        te = bb.te
        sa, sb = bb.shape(at), bb.shape(bt)
        batch = bb.broadcast_dims(sa[:-2], sb[:-2])
        k = te.reduce_axis((0, sa[-1]), name="k")

        def index(dims, i):  # numpy broadcasting of the batch axes
            offset = len(batch) - len(dims)
            return [0 if (isinstance(d, int) and d == 1 and not
                          (isinstance(batch[offset + j], int) and batch[offset + j] == 1))
                    else i[offset + j] for j, d in enumerate(dims)]

        def element(*i):
            bi = i[:-2]
            return te.sum(at[tuple(index(sa[:-2], bi) + [i[-2], k])] *
                          bt[tuple(index(sb[:-2], bi) + [i[-1], k])], axis=k)
        out = [bb.prim(d) for d in batch + [sa[-2], sb[-2]]]
        return te.compute(out, element, name="matmul_nt")
    return bb.emit_te(compute, x, src, name="matmul_nt")


def _swap_last(t):
    rank = len(t.shape)
    return transpose_p.bind(t, perm=tuple(range(rank - 2)) + (rank - 1, rank - 2))


@matmul_p.def_vjp
def _(g, y, a, b):
    """d(a @ b) = g @ b^T, a^T @ g (batch dims are summed back by autodiff). A matrix ``b``
    applied to every row of a stacked ``a`` (a Dense layer on a sequence, an RNN's input
    projection) gets its gradient as one product over all rows, not one per leading index
    summed afterwards."""
    k, n = a.shape[-1], g.shape[-1]
    if len(b.shape) == 2 and len(a.shape) > 2 and k is not None and n is not None:
        rows_a = reshape_p.bind(a, shape=(-1, k))
        rows_g = reshape_p.bind(g, shape=(-1, n))
        return [matmul_p.bind(g, _swap_last(b)), matmul_p.bind(_swap_last(rows_a), rows_g)]
    return [matmul_p.bind(g, _swap_last(b)), matmul_p.bind(_swap_last(a), g)]


def matmul(a, b):
    from graphkeras.compiler.ops.shape import expand_dims, squeeze
    a_vec, b_vec = len(a.shape) == 1, len(b.shape) == 1
    if a_vec:
        a = expand_dims(a, 0)
    if b_vec:
        b = expand_dims(b, -1)
    out = matmul_p.bind(a, b)
    if a_vec:
        out = squeeze(out, -2)
    if b_vec:
        out = squeeze(out, -1)
    return out


# ------------------------------------------------------------------ softmax
softmax_p = Primitive("softmax", lambda x, axis: AVal(x.shape, x.dtype))


@softmax_p.def_impl
def _(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


softmax_p.def_onnx(lambda b, node, x: b.op("Softmax", [x], axis=node.attrs["axis"]))
softmax_p.def_relax(lambda bb, node, x: bb.op.nn.softmax(x, node.attrs["axis"]))


@softmax_p.def_vjp
def _(g, y, x, axis):
    from graphkeras.compiler.ops.elementwise import multiply, subtract
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    return [multiply(y, subtract(g, reduce_sum(multiply(g, y), axis=axis, keepdims=True)))]


def softmax(x, axis=-1):
    return softmax_p.bind(x, axis=normalize_axis(axis, len(x.shape)))


log_softmax_p = Primitive("log_softmax", lambda x, axis: AVal(x.shape, x.dtype))


@log_softmax_p.def_impl
def _(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(x.dtype)


log_softmax_p.def_onnx(lambda b, node, x: b.op("LogSoftmax", [x], axis=node.attrs["axis"]))
log_softmax_p.def_relax(lambda bb, node, x: bb.op.nn.log_softmax(x, node.attrs["axis"]))


@log_softmax_p.def_vjp
def _(g, y, x, axis):
    from graphkeras.compiler.ops.elementwise import exp, multiply, subtract
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    return [subtract(g, multiply(exp(y), reduce_sum(g, axis=axis, keepdims=True)))]


def log_softmax(x, axis=-1):
    return log_softmax_p.bind(x, axis=normalize_axis(axis, len(x.shape)))


# --------------------------------------------------------- bilinear resize
def _resize_rule(x, size):
    return AVal((x.shape[0],) + tuple(size) + (x.shape[-1],), x.dtype)


resize_bilinear_p = Primitive("resize_bilinear", _resize_rule)


def _linear_weights(in_size, out_size):
    """Half-pixel-centre source indices and weights (TensorFlow's and ONNX's rule)."""
    scale = in_size / out_size
    src = (np.arange(out_size) + 0.5) * scale - 0.5
    src = np.clip(src, 0, in_size - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    return lo, hi, (src - lo)


@resize_bilinear_p.def_impl
def _(x, size):
    y = x.astype(np.float64)
    for axis, out_size in enumerate(size, start=1):
        lo, hi, t = _linear_weights(x.shape[axis], out_size)
        shape = [1] * x.ndim
        shape[axis] = out_size
        t = t.reshape(shape)
        y = np.take(y, lo, axis=axis) * (1 - t) + np.take(y, hi, axis=axis) * t
    return y.astype(x.dtype)


@resize_bilinear_p.def_onnx
def _(b, node, x):
    nd = len(node.inputs[0].shape) - 2
    xc = _to_channels_first(b, x, nd)
    # output sizes, not scales: ONNX sizes the output floor(in * float32(out / in)), which can
    # fall one short (3 * float32(5 / 3) < 5)
    sizes = b.op("Concat", [b.op("Shape", [xc], start=0, end=2), b.ints(node.attrs["size"])],
                 axis=0)
    y = b.op("Resize", [xc, "", "", sizes], mode="linear",
             coordinate_transformation_mode="half_pixel")
    return _to_channels_last(b, y, nd)


@resize_bilinear_p.def_relax
def _(bb, node, x):
    """As the numpy kernel: one axis after the other, in float64, same source rows and weights."""
    tir = bb.tir
    y = bb.emit(bb.op.astype(x, "float64"))
    for axis, out_size in enumerate(node.attrs["size"], start=1):
        def compute(t, axis=axis, out_size=out_size):
            n = t.shape[axis]

            def element(*i):
                scale = tir.Cast("float64", n) / tir.const(float(out_size), "float64")
                src = (tir.Cast("float64", i[axis]) + tir.const(0.5, "float64")) * scale \
                    - tir.const(0.5, "float64")
                src = tir.min(tir.max(src, tir.const(0.0, "float64")), tir.Cast("float64", n - 1))
                lo = tir.Cast("int64", tir.floor(src))
                hi = tir.min(lo + 1, n - 1)
                w = src - tir.Cast("float64", lo)
                at = list(i)
                a = t[tuple(at[:axis] + [lo] + at[axis + 1:])]
                b = t[tuple(at[:axis] + [hi] + at[axis + 1:])]
                return a * (tir.const(1.0, "float64") - w) + b * w
            shape = list(t.shape)
            shape[axis] = bb.prim(out_size)
            return bb.te.compute(shape, element, name="resize_linear")
        y = bb.emit_te(compute, y, name="resize_linear")
    return bb.op.astype(y, node.inputs[0].dtype)


@resize_bilinear_p.def_vjp
def _(g, y, x, size):
    """Forward: separable, y = A_1 x along axis 1, then A_2 along axis 2 ..., with A (out, in)
    holding the two interpolation weights of each output row.
    Backward: dx = A^T g along each axis: g (axis moved last) @ A, as a constant matrix."""
    rank = len(x.shape)
    spatial = _known_spatial(x, "resize_bilinear")
    for axis, (n, out_size) in enumerate(zip(spatial, size), start=1):
        lo, hi, t = _linear_weights(n, out_size)
        a = np.zeros((out_size, n), dtype=np.dtype(g.dtype))
        np.add.at(a, (np.arange(out_size), lo), 1 - t)
        np.add.at(a, (np.arange(out_size), hi), t)
        perm = tuple(i for i in range(rank) if i != axis) + (axis,)
        g = matmul_p.bind(transpose_p.bind(g, perm=perm), a)
        g = transpose_p.bind(g, perm=tuple(np.argsort(perm).tolist()))
    return [g]


def resize_bilinear(x, size):
    return resize_bilinear_p.bind(x, size=tuple(int(s) for s in size))
