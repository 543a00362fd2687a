"""Movement primitives: reshape, transpose, concat, slice, gather, squeeze,
unsqueeze, expand, tile, pad; and composites built from them."""
from __future__ import annotations

import builtins

import numpy as np

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive, Tensor
from graphkeras.compiler.ops._rules import normalize_axes, normalize_axis, same_dtype

_NUMPY_PAD_MODE = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


def _known_size(shape):
    size = 1
    for d in shape:
        if d is None:
            return None
        size *= d
    return size


# ------------------------------------------------------------------ reshape
def _reshape_rule(x: AVal, shape):
    """``shape`` may hold one -1 and ``None`` at index 0 ("keep the input's dim 0")."""
    if list(shape).count(-1) > 1:
        raise ValueError(f"reshape: at most one -1 in the target shape; received {shape}.")
    out = [x.shape[0] if (d is None and i == 0) else d for i, d in enumerate(shape)]
    if any(d is None for i, d in enumerate(shape) if i > 0):
        raise ValueError(f"reshape: only the first dimension may be None; received {shape}.")
    if -1 in out:
        total = _known_size(x.shape)
        rest = _known_size([d for d in out if d != -1])
        if total is not None and rest is not None:
            if rest == 0 or total % rest:
                raise ValueError(f"Cannot reshape a tensor of shape {x.shape} into {tuple(shape)}.")
            out[out.index(-1)] = total // rest
        elif out[0] is None or (shape[0] is None and x.shape[0] is None):
            # the batch dimension is unknown; divide the known trailing dims
            tail_in = _known_size(x.shape[1:])
            tail_out = _known_size([d for d in out[1:] if d != -1])
            if tail_in is not None and tail_out and out[0] is None and -1 in out[1:]:
                if tail_in % tail_out:
                    raise ValueError(f"Cannot reshape a tensor of shape {x.shape} into {tuple(shape)}.")
                out[out.index(-1)] = tail_in // tail_out
            else:
                out[out.index(-1)] = None
        else:
            out[out.index(-1)] = None
    else:
        total, new = _known_size(x.shape), _known_size(out)
        if total is not None and new is not None and total != new:
            raise ValueError(f"Cannot reshape a tensor of shape {x.shape} into {tuple(shape)}: "
                             f"{total} values do not fit {new}.")
        if x.shape[1:] and _known_size(x.shape[1:]) is not None and out and out[0] is None \
                and shape[0] is None and _known_size(out[1:]) != _known_size(x.shape[1:]):
            raise ValueError(f"Cannot reshape a tensor of shape {x.shape} into {tuple(shape)}.")
    return AVal(tuple(out), x.dtype)


reshape_p = Primitive("reshape", _reshape_rule)


@reshape_p.def_impl
def _(x, shape):
    return x.reshape([x.shape[0] if d is None else d for d in shape])


@reshape_p.def_onnx
def _(b, node, x):
    # ONNX Reshape copies the input's dimension where the target holds 0
    return b.op("Reshape", [x, b.ints([0 if d is None else d for d in node.attrs["shape"]])])


@reshape_p.def_relax
def _(bb, node, x):
    dims, shape = bb.shape(x), list(node.attrs["shape"])
    target = [dims[0] if (d is None and i == 0) else d for i, d in enumerate(shape)]
    if -1 in shape:
        k = shape.index(-1)
        total, rest = 1, 1
        for d in dims:
            total = total * d
        for i, d in enumerate(target):
            if i != k:
                rest = rest * d
        target[k] = bb.simplify(bb.prim(total) // bb.prim(rest))
    return bb.reshape(x, target)


reshape_p.def_vjp(lambda g, y, x, shape: [reshape_like(g, x)])


# The shape-from-a-tensor forms, for gradients: sizes known only at run time.
reshape_like_p = Primitive("reshape_like", lambda x, like: AVal(like.shape, x.dtype))
reshape_like_p.def_impl(lambda x, like: x.reshape(like.shape))
reshape_like_p.def_onnx(lambda b, node, x, like: b.op("Reshape", [x, b.op("Shape", [like])]))
reshape_like_p.def_relax(lambda bb, node, x, like: bb.reshape(x, bb.shape(like)))
reshape_like_p.def_vjp(lambda g, y, x, like: [reshape_like(g, x), None])


def _split_leading_rule(x: AVal, parts):
    if not x.shape:
        raise ValueError("split_leading: needs a tensor of rank >= 1.")
    lead = x.shape[0]
    if lead is not None and lead % parts:
        raise ValueError(f"split_leading: {lead} rows do not split into {parts} equal parts.")
    return AVal((parts, None if lead is None else lead // parts) + x.shape[1:], x.dtype)


# (parts * n, ...) -> (parts, n, ...), every other dimension kept as it is at run time (a
# reshape's static target can keep only dims at their own index: a steps loop's batches of
# sequences of any length need this)
split_leading_p = Primitive("split_leading", _split_leading_rule)
split_leading_p.def_impl(lambda x, parts: x.reshape((parts, -1) + x.shape[1:]))
split_leading_p.def_onnx(lambda b, node, x: b.op("Reshape", [x, b.op(
    "Concat", [b.ints([node.attrs["parts"], -1]), b.op("Shape", [x], start=1)], axis=0)]))


@split_leading_p.def_relax
def _(bb, node, x):
    dims, parts = bb.shape(x), node.attrs["parts"]
    return bb.reshape(x, [parts, bb.simplify(bb.prim(dims[0]) // parts)] + list(dims[1:]))


split_leading_p.def_vjp(lambda g, y, x, parts: [reshape_like(g, x)])


def _broadcast_like_rule(x, like):
    from graphkeras.compiler.ops._rules import broadcast_shapes
    return AVal(broadcast_shapes(x.shape, like.shape), x.dtype)


broadcast_like_p = Primitive("broadcast_like", _broadcast_like_rule)
broadcast_like_p.def_impl(lambda x, like: np.broadcast_to(
    x, np.broadcast_shapes(x.shape, like.shape)).copy())
broadcast_like_p.def_onnx(lambda b, node, x, like: b.op("Expand", [x, b.op("Shape", [like])]))
broadcast_like_p.def_relax(lambda bb, node, x, like: bb.op.broadcast_to(
    x, [bb.prim(d) for d in bb.broadcast_dims(bb.shape(like), bb.shape(x))]))
broadcast_like_p.def_vjp(lambda g, y, x, like: [g, None])  # autodiff sums back to x's shape


# ---------------------------------------------------------------- transpose
transpose_p = Primitive("transpose", lambda x, perm: AVal(tuple(x.shape[p] for p in perm), x.dtype))
transpose_p.def_impl(lambda x, perm: np.transpose(x, perm))
transpose_p.def_onnx(lambda b, node, x: b.transpose(x, node.attrs["perm"]))
transpose_p.def_relax(lambda bb, node, x: bb.op.permute_dims(x, list(node.attrs["perm"])))
transpose_p.def_vjp(lambda g, y, x, perm: [transpose_p.bind(g, perm=tuple(np.argsort(perm).tolist()))])


# ------------------------------------------------------------------- concat
def _concat_rule(*xs, axis):
    dtype = same_dtype(*xs)
    rank = len(xs[0].shape)
    out = list(xs[0].shape)
    for x in xs[1:]:
        if len(x.shape) != rank:
            raise ValueError("concatenate: all inputs must have the same rank; received shapes "
                             + ", ".join(str(v.shape) for v in xs) + ".")
        for i, (a, c) in enumerate(zip(out, x.shape)):
            if i == axis:
                continue
            if a is not None and c is not None and a != c:
                raise ValueError("concatenate: inputs must match on every axis except the "
                                 f"concatenation axis ({axis}); received shapes "
                                 + ", ".join(str(v.shape) for v in xs) + ".")
            out[i] = a if a is not None else c
    sizes = [x.shape[axis] for x in xs]
    out[axis] = None if any(s is None for s in sizes) else builtins.sum(sizes)
    return AVal(tuple(out), dtype)


concat_p = Primitive("concat", _concat_rule)
concat_p.def_impl(lambda *xs, axis: np.concatenate(xs, axis=axis))
concat_p.def_onnx(lambda b, node, *xs: b.op("Concat", list(xs), axis=node.attrs["axis"]))
concat_p.def_relax(lambda bb, node, *xs: bb.op.concat(list(xs), axis=node.attrs["axis"]))


@concat_p.def_vjp
def _(g, y, *xs, axis):
    sizes = [x.shape[axis] for x in xs]
    if any(n is None for n in sizes):
        raise ValueError("The gradient of a concatenation along an axis of unknown size is not "
                         "supported; concatenate along a feature axis.")
    bounds = np.cumsum([0] + sizes).tolist()
    return [slice_p.bind(g, starts=(lo,), ends=(hi,), axes=(axis,), steps=(1,))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


# -------------------------------------------------------------------- slice
def _slice_rule(x, starts, ends, axes, steps):
    out = list(x.shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        out[a] = None if x.shape[a] is None else len(range(*slice(s, e, st).indices(x.shape[a])))
    return AVal(tuple(out), x.dtype)


slice_p = Primitive("slice", _slice_rule)


@slice_p.def_impl
def _(x, starts, ends, axes, steps):
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[a] = slice(s, e, st)
    return x[tuple(index)]


_INT64_MAX = 2**63 - 1


@slice_p.def_onnx
def _(b, node, x):
    a = node.attrs
    starts, ends = list(a["starts"]), list(a["ends"])
    for k, (ax, st) in enumerate(zip(a["axes"], a["steps"])):
        n = node.inputs[0].shape[ax]
        if n is not None:  # Python's bounds (ONNX clamps a start below -n to 0 when stepping back)
            lo, hi, _ = slice(starts[k], ends[k], st).indices(n)
            starts[k], ends[k] = (0, 0) if not range(lo, hi, st) else (lo, None if hi < 0 else hi)
    ends = [(_INT64_MAX if st > 0 else -_INT64_MAX - 1) if e is None else e
            for e, st in zip(ends, a["steps"])]
    starts = [(0 if st > 0 else -1) if s is None else s for s, st in zip(starts, a["steps"])]
    return b.op("Slice", [x, b.ints(starts), b.ints(ends), b.ints(a["axes"]), b.ints(a["steps"])])


@slice_p.def_relax
def _(bb, node, x):
    """Python's slice semantics on known or symbolic sizes, as one TE gather."""
    a = node.attrs

    def compute(t):
        dims = bb.shape(t)
        first, out, steps = [0] * len(dims), list(dims), [1] * len(dims)
        for start, end, axis, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
            first[axis], out[axis] = bb.py_slice(dims[axis], start, end, step)
            steps[axis] = step
        return bb.te.compute([bb.prim(d) for d in out], lambda *i: t[tuple(
            f + k * s for f, k, s in zip(first, i, steps))], name="slice")
    return bb.emit_te(compute, x, name="slice")


def _whole_axis(start, end, step):
    if step == 1:
        return start in (None, 0) and (end is None or end >= _INT64_MAX)
    if step == -1:
        return start in (None, -1) and (end is None or end <= -_INT64_MAX - 1)
    return False


@slice_p.def_vjp
def _(g, y, x, starts, ends, axes, steps):
    """Zeros where the slice skipped: pad back (a step > 1 first interleaves zeros)."""
    for axis, start, end, step in zip(axes, starts, ends, steps):
        n = x.shape[axis]
        if n is None and _whole_axis(start, end, step):
            # every element, in order or reversed: the gradient is g, in the same order
            if step == -1:
                g = slice_p.bind(g, starts=(None,), ends=(None,), axes=(axis,), steps=(-1,))
            continue
        if n is None:
            raise ValueError("The gradient of a slice along an axis of unknown size (the batch "
                             "axis) is not supported.")
        picked = range(*slice(start, end, step).indices(n))
        if step < 0:
            g = slice_p.bind(g, starts=(None,), ends=(None,), axes=(axis,), steps=(-1,))
            picked = picked[::-1]
        stride = abs(step)
        if len(picked) == 0:
            shape = list(g.shape)
            shape[axis] = n
            return [broadcast_to(np.zeros((1,) * len(shape), g.dtype), shape)]
        if stride > 1:  # interleave stride-1 zeros after each element, then trim
            g = unsqueeze_p.bind(g, axes=(axis + 1,))
            pads = [(0, 0)] * len(g.shape)
            pads[axis + 1] = (0, stride - 1)
            g = pad_p.bind(g, pads=tuple(pads), mode="constant", constant_value=0.0)
            shape = list(g.shape)
            merged = shape[:axis] + [shape[axis] * stride] + shape[axis + 2:]
            g = reshape(g, [None if i == 0 and d is None else d for i, d in enumerate(merged)])
            g = slice_p.bind(g, starts=(0,), ends=((len(picked) - 1) * stride + 1,), axes=(axis,),
                             steps=(1,))
        lo = picked[0]
        pads = [(0, 0)] * len(g.shape)
        pads[axis] = (lo, n - lo - g.shape[axis])
        g = pad_p.bind(g, pads=tuple(pads), mode="constant", constant_value=0.0)
    return [g]


# ------------------------------------------------------------------- gather
def _gather_rule(x, indices, axis):
    if indices.dtype not in ("int32", "int64"):
        raise TypeError(f"gather/take: indices must be int32 or int64; received {indices.dtype}.")
    return AVal(x.shape[:axis] + indices.shape + x.shape[axis + 1:], x.dtype)


gather_p = Primitive("gather", _gather_rule)
gather_p.def_impl(lambda x, indices, axis: np.take(x, indices, axis=axis))
gather_p.def_onnx(lambda b, node, x, i: b.op("Gather", [x, i], axis=node.attrs["axis"]))
gather_p.def_relax(lambda bb, node, x, i: bb.op.take(x, i, axis=node.attrs["axis"], mode="wrap"))
gather_p.def_vjp(lambda g, y, x, indices, axis: [scatter_add(g, x, indices, axis), None])


# Adds rows of ``updates`` into zeros shaped like ``like`` at ``indices`` along ``axis``:
# the gradient of gather (an embedding lookup).
def _scatter_add_rule(updates, like, indices, axis):
    return AVal(like.shape, updates.dtype)


scatter_add_p = Primitive("scatter_add", _scatter_add_rule)


@scatter_add_p.def_impl
def _(updates, like, indices, axis):
    out = np.zeros(like.shape, updates.dtype)
    moved = np.moveaxis(out, axis, 0)
    upd = np.moveaxis(updates, tuple(range(axis, axis + indices.ndim)),
                      tuple(range(indices.ndim)))
    np.add.at(moved, indices % like.shape[axis], upd)
    return out


@scatter_add_p.def_onnx
def _(b, node, updates, like, indices):
    axis = node.attrs["axis"]
    rank = len(node.inputs[1].shape)
    k = len(node.inputs[2].shape)
    if axis:  # move the gathered axis first
        perm = [axis] + [i for i in range(rank) if i != axis]
        uperm = list(range(axis, axis + k)) + [i for i in range(axis)] + \
            list(range(axis + k, rank + k - 1))
        like = b.transpose(like, perm)
        updates = b.transpose(updates, uperm)
    zeros = b.op("Expand", [b.const(np.zeros((), node.inputs[1].dtype)), b.op("Shape", [like])])
    idx = b.op("Unsqueeze", [b.cast(indices, "int64"), b.ints([-1])])
    out = b.op("ScatterND", [zeros, idx, updates], reduction="add")
    if axis:
        inverse = np.argsort(perm).tolist()
        out = b.transpose(out, inverse)
    return out


@scatter_add_p.def_relax
def _(bb, node, updates, like, indices):
    axis = node.attrs["axis"]
    rank, k = len(node.inputs[1].shape), len(node.inputs[2].shape)
    dims = bb.shape(like)
    perm = [axis] + [i for i in range(rank) if i != axis]
    if axis:  # move the gathered axis first
        uperm = list(range(axis, axis + k)) + list(range(axis)) + list(range(axis + k, rank + k - 1))
        updates = bb.op.permute_dims(updates, uperm)
        dims = [dims[p] for p in perm]
    idx = bb.emit_te(lambda it, lt: bb.te.compute(it.shape, lambda *i: bb.tir.floormod(
        bb.tir.Cast("int64", it[i]), lt.shape[axis]), name="wrap_index"), indices, like,
        name="wrap_index")
    zeros = bb.op.zeros([bb.prim(d) for d in dims], node.inputs[0].dtype)
    out = bb.op.scatter_nd(zeros, bb.op.expand_dims(idx, [k]), updates, "add")
    return bb.op.permute_dims(out, np.argsort(perm).tolist()) if axis else out


def scatter_add(updates, like, indices, axis):
    return scatter_add_p.bind(updates, like, indices, axis=axis)


# -------------------------------------------------------- squeeze/unsqueeze
def _unsqueeze_rule(x, axes):
    out = list(x.shape)
    for a in axes:
        out.insert(a, 1)
    return AVal(tuple(out), x.dtype)


unsqueeze_p = Primitive("unsqueeze", _unsqueeze_rule)
unsqueeze_p.def_impl(lambda x, axes: np.expand_dims(x, tuple(axes)))
unsqueeze_p.def_onnx(lambda b, node, x: b.unsqueeze(x, node.attrs["axes"]))
unsqueeze_p.def_relax(lambda bb, node, x: bb.op.expand_dims(x, list(node.attrs["axes"])))
unsqueeze_p.def_vjp(lambda g, y, x, axes: [squeeze_p.bind(g, axes=axes)])


def _squeeze_rule(x, axes):
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape}).")
    return AVal(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


squeeze_p = Primitive("squeeze", _squeeze_rule)
squeeze_p.def_impl(lambda x, axes: np.squeeze(x, tuple(axes)))
squeeze_p.def_onnx(lambda b, node, x: b.squeeze(x, node.attrs["axes"]))
squeeze_p.def_relax(lambda bb, node, x: bb.reshape(
    x, [d for i, d in enumerate(bb.shape(x)) if i not in node.attrs["axes"]]))
squeeze_p.def_vjp(lambda g, y, x, axes: [unsqueeze_p.bind(g, axes=axes)])


# ------------------------------------------------------------- expand, tile
def _expand_rule(x, shape):
    from graphkeras.compiler.ops._rules import broadcast_shapes
    return AVal(broadcast_shapes(x.shape, tuple(shape)), x.dtype)


expand_p = Primitive("expand", _expand_rule)


@expand_p.def_impl
def _(x, shape):
    target = np.broadcast_shapes(x.shape, tuple(1 if d is None else d for d in shape))
    return np.broadcast_to(x, target).copy()


@expand_p.def_onnx
def _(b, node, x):
    return b.op("Expand", [x, b.ints([1 if d is None else d for d in node.attrs["shape"]])])


expand_p.def_relax(lambda bb, node, x: bb.op.broadcast_to(x, [bb.prim(d) for d in bb.broadcast_dims(
    bb.shape(x), [1 if d is None else d for d in node.attrs["shape"]])]))


expand_p.def_vjp(lambda g, y, x, shape: [g])  # autodiff sums back to x's shape


tile_p = Primitive("tile", lambda x, reps: AVal(
    tuple(None if d is None else d * r for d, r in zip(x.shape, reps)), x.dtype))
tile_p.def_impl(lambda x, reps: np.tile(x, reps))
tile_p.def_onnx(lambda b, node, x: b.op("Tile", [x, b.ints(node.attrs["reps"])]))
tile_p.def_relax(lambda bb, node, x: bb.op.tile(x, list(node.attrs["reps"])))


@tile_p.def_vjp
def _(g, y, x, reps):
    """Sum the copies: split each tiled axis into (copies, size) and reduce the copies."""
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    for axis, r in enumerate(reps):
        if r == 1:
            continue
        n = x.shape[axis]
        if n is None:
            raise ValueError("The gradient of tiling an axis of unknown size is not supported.")
        shape = list(g.shape)
        split = shape[:axis] + [r, n] + shape[axis + 1:]
        g = reduce_sum(reshape(g, [None if i == 0 and d is None else d for i, d in enumerate(split)]),
                       axis=axis)
    return [g]


# --------------------------------------------------------------------- pad
def _pad_rule(x, pads, mode, constant_value):
    return AVal(tuple(None if d is None else d + lo + hi for d, (lo, hi) in zip(x.shape, pads)),
                x.dtype)


pad_p = Primitive("pad", _pad_rule)


@pad_p.def_impl
def _(x, pads, mode, constant_value):
    if mode == "constant":
        return np.pad(x, pads, mode="constant", constant_values=np.asarray(constant_value, x.dtype))
    return np.pad(x, pads, mode=_NUMPY_PAD_MODE[mode])


@pad_p.def_onnx
def _(b, node, x):
    pads, mode = node.attrs["pads"], node.attrs["mode"]
    onnx_pads = b.ints([lo for lo, _ in pads] + [hi for _, hi in pads])
    if mode == "constant":
        value = b.const(np.asarray(node.attrs["constant_value"], dtype=node.inputs[0].dtype))
        return b.op("Pad", [x, onnx_pads, value], mode="constant")
    return b.op("Pad", [x, onnx_pads], mode=mode)


@pad_p.def_relax
def _(bb, node, x):
    pads, mode = node.attrs["pads"], node.attrs["mode"]
    dtype = node.inputs[0].dtype
    tir = bb.tir
    fill = tir.const(np.asarray(node.attrs["constant_value"], dtype).item(), dtype)

    def compute(t):
        dims = bb.shape(t)

        def element(*i):
            src, inside = [], []
            for k, n, (lo, hi) in zip(i, dims, pads):
                s = k - lo
                if lo or hi:
                    if mode == "edge":
                        s = tir.min(tir.max(s, 0), bb.prim(n) - 1)
                    elif mode == "reflect":  # (pads below the size, as ONNX)
                        s = tir.Select(s < 0, -s, tir.Select(s >= n, 2 * (bb.prim(n) - 1) - s, s))
                    else:
                        inside += [s >= 0, s < n]
                src.append(s)
            return tir.if_then_else(tir.all(*inside), t[tuple(src)], fill) if inside else t[tuple(src)]
        out = [d + lo + hi for d, (lo, hi) in zip(dims, pads)]
        return bb.te.compute([bb.prim(d) for d in out], element, name="pad")
    return bb.emit_te(compute, x, name="pad")


@pad_p.def_vjp
def _(g, y, x, pads, mode, constant_value):
    if mode != "constant":
        raise ValueError(f"The gradient of '{mode}' padding is not supported; use constant padding.")
    starts = tuple(lo for lo, _ in pads)
    ends = tuple(None if hi == 0 else -hi for _, hi in pads)
    return [slice_p.bind(g, starts=starts, ends=ends, axes=tuple(range(len(pads))),
                         steps=(1,) * len(pads))]


# ------------------------------------------------------- public functions
def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def reshape(x, newshape):
    newshape = tuple(newshape) if isinstance(newshape, (list, tuple)) else (newshape,)
    return reshape_p.bind(x, shape=tuple(None if d is None else int(d) for d in newshape))


def transpose(x, axes=None):
    ndim = len(_shape(x))
    perm = tuple(reversed(range(ndim))) if axes is None else tuple(normalize_axis(a, ndim) for a in axes)
    return transpose_p.bind(x, perm=perm)


def concatenate(xs, axis=0):
    xs = list(xs)
    return concat_p.bind(*xs, axis=normalize_axis(axis, len(_shape(xs[0]))))


concat = concatenate


def expand_dims(x, axis):
    ndim = len(_shape(x))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_ndim = ndim + len(axes)
    return unsqueeze_p.bind(x, axes=tuple(sorted(normalize_axis(a, out_ndim) for a in axes)))


def squeeze(x, axis=None):
    shape = _shape(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = normalize_axes(axis, len(shape))
    return squeeze_p.bind(x, axes=axes)


def stack(xs, axis=0):
    xs = list(xs)
    ndim = len(_shape(xs[0])) + 1
    axis = normalize_axis(axis, ndim)
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


def take(x, indices, axis=0):
    if not hasattr(indices, "dtype") or isinstance(indices, (list, tuple)):
        indices = np.asarray(indices, dtype=np.int64)
    return gather_p.bind(x, indices, axis=normalize_axis(axis, len(_shape(x))))


def broadcast_to(x, shape):
    return expand_p.bind(x, shape=tuple(shape))


def tile(x, repeats):
    reps = (repeats,) if isinstance(repeats, int) else tuple(repeats)
    ndim = len(_shape(x))
    reps = (1,) * (ndim - len(reps)) + reps
    if len(reps) > ndim:
        x = expand_dims(x, tuple(range(len(reps) - ndim)))
    return tile_p.bind(x, reps=reps)


def repeat(x, repeats, axis):
    """Repeat each element ``repeats`` times along ``axis`` (int repeats)."""
    shape = _shape(x)
    axis = normalize_axis(axis, len(shape))
    y = expand_dims(x, axis + 1)
    y = tile(y, [1] * (axis + 1) + [repeats] + [1] * (len(shape) - axis - 1))
    new = list(shape)
    new[axis] = None if shape[axis] is None else shape[axis] * repeats
    if new[0] is None and axis != 0:
        return reshape(y, new)
    return reshape(y, [(-1 if d is None else d) for d in new])


def pad(x, pad_width, mode="constant", constant_values=0):
    pads = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    mode = mode.lower()
    if mode not in _NUMPY_PAD_MODE:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {sorted(_NUMPY_PAD_MODE)}.")
    return pad_p.bind(x, pads=pads, mode=mode, constant_value=float(constant_values))


def slice_axes(x, starts, ends, axes, steps=None):
    steps = tuple(steps) if steps is not None else (1,) * len(axes)
    return slice_p.bind(x, starts=tuple(starts), ends=tuple(ends), axes=tuple(axes), steps=steps)


def split(x, indices_or_sections, axis=0):
    shape = _shape(x)
    axis = normalize_axis(axis, len(shape))
    if isinstance(indices_or_sections, int):
        n = shape[axis]
        if n is None or n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of size {n} cannot be split into "
                             f"{indices_or_sections} equal sections.")
        step = n // indices_or_sections
        bounds = [i * step for i in range(indices_or_sections + 1)]
    else:
        bounds = [0] + list(indices_or_sections) + [shape[axis]]
    return [slice_axes(x, [lo], [hi], [axis]) for lo, hi in zip(bounds[:-1], bounds[1:])]


def flatten_batch(x):
    """Reshape ``(batch, ...)`` to ``(batch, prod(...))``."""
    shape = _shape(x)
    tail = _known_size(shape[1:])
    return reshape(x, (None if shape[0] is None else shape[0], -1 if tail is None else tail))


def getitem(x, index):
    """numpy basic indexing: ints, slices, None and Ellipsis; int arrays on one axis."""
    if not isinstance(index, tuple):
        index = (index,)
    shape = _shape(x)
    n_real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if builtins.any(i is Ellipsis for i in index):
        pos = [k for k, i in enumerate(index) if i is Ellipsis][0]
        index = index[:pos] + (slice(None),) * (len(shape) - n_real) + index[pos + 1:]
    starts, ends, axes, steps, squeeze_axes, new_axes = [], [], [], [], [], []
    gathers = []
    axis = 0
    out_axis = 0
    for i in index:
        if i is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        if isinstance(i, slice):
            if i != slice(None):
                starts.append(i.start)
                ends.append(i.stop)
                axes.append(axis)
                steps.append(1 if i.step is None else i.step)
            out_axis += 1
        elif isinstance(i, (int, np.integer)):
            i = int(i)
            starts.append(i)
            ends.append(i + 1 if i != -1 else None)
            axes.append(axis)
            steps.append(1)
            squeeze_axes.append(axis)
        elif isinstance(i, (list, np.ndarray, Tensor)):
            gathers.append((axis, i))
            out_axis += len(_shape(i))
        else:
            raise TypeError(f"Unsupported index {i!r} for a tensor.")
        axis += 1
    if gathers:
        # numpy zips several array indices, and moves the indexed axes first when ints are
        # not next to the array: not supported (rather than silently different)
        advanced = [k for k, i in enumerate(index)
                    if isinstance(i, (int, np.integer, list, np.ndarray, Tensor))]
        if len(gathers) > 1 or advanced != list(range(advanced[0], advanced[-1] + 1)):
            raise NotImplementedError(
                f"getitem: index {index!r} is not supported: use at most one integer-array "
                "index, with any integer indices next to it.")
        ax, idx = gathers[0]  # its axes replace one axis: later squeezed axes move
        squeeze_axes = [a + len(_shape(idx)) - 1 if a > ax else a for a in squeeze_axes]
    y = x
    if axes:
        y = slice_p.bind(y, starts=tuple(starts), ends=tuple(ends), axes=tuple(axes), steps=tuple(steps))
    for ax, idx in gathers:
        y = take(y, idx, axis=ax)
    if squeeze_axes:
        y = squeeze_p.bind(y, axes=tuple(squeeze_axes))
    if new_axes:
        y = unsqueeze_p.bind(y, axes=tuple(new_axes))
    return y


def one_hot(indices, num_classes, axis=-1, dtype="float32"):
    from graphkeras.compiler.ops.elementwise import cast, equal
    classes = np.arange(num_classes, dtype=np.dtype(getattr(indices, "dtype", "int64")).name
                        if hasattr(indices, "dtype") else np.int64)
    hot = equal(expand_dims(indices, -1), classes)
    out = cast(hot, dtype)
    if axis != -1:
        ndim = len(_shape(out))
        axis = normalize_axis(axis, ndim)
        perm = list(range(ndim - 1))
        perm.insert(axis, ndim - 1)
        out = transpose(out, perm)
    return out


def shape(x):
    return _shape(x)


def split_leading(x, parts):
    """``(parts * n, ...)`` -> ``(parts, n, ...)``; the other dimensions may be unknown."""
    return split_leading_p.bind(x, parts=int(parts))


def reshape_like(x, like):
    """Reshape ``x`` to ``like``'s shape, read at run time."""
    return reshape_like_p.bind(x, like)


def broadcast_like(x, like):
    """Broadcast ``x`` against ``like``'s shape, read at run time."""
    return broadcast_like_p.bind(x, like)
