"""Every primitive and composite op: numpy interpreter == ONNX Runtime == eager.

One table of :class:`OpCase` drives the test. For each case, hypothesis draws
shapes (batch 1..4, other dims 1..6), attributes and a seed for the values; the
op is traced with a ``None`` batch dimension, run by the reference interpreter
and by ONNX Runtime on the lowered model, and called eagerly on the arrays
(see ``helpers.check_op``). Cases with a ``ref`` also compare against numpy's
(or TensorFlow's, where they differ) semantics written independently here.

``test_every_primitive_has_a_case`` fails when a primitive is registered
without a case here.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from graphkeras.compiler.ops.random import _np_hash_uniform
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphkeras.compiler import PRIMITIVES
from graphkeras.compiler import ops
from graphkeras.compiler.ops.reduce import dim_size
from graphkeras.compiler.ops.shape import broadcast_like, reshape_like, scatter_add
from graphkeras.compiler.ops.linalg import arange_like
from helpers import In, check_op

# examples per case; GRAPHKERAS_OP_EXAMPLES=500 for a long bug hunt
MAX_EXAMPLES = int(os.environ.get("GRAPHKERAS_OP_EXAMPLES", 15))
F32_TOL = dict(rtol=1e-5, atol=1e-6)
SUM_TOL = dict(rtol=1e-5, atol=1e-5)  # accumulations (matmul, conv, reductions)


# ======================================================= table structure
@dataclass(frozen=True)
class Arg:
    """Shape/dtype of one input; ``dynamic`` axes are traced as None."""

    shape: tuple
    dtype: str = "float32"
    dynamic: tuple = (0,)
    domain: object = None  # overrides the case's domain for this input


@dataclass
class Example:
    args: list
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpCase:
    name: str
    fn: Callable                      # fn(*inputs, **params): Tensors or numpy arrays
    shapes: st.SearchStrategy         # draws an Example (shapes, dtypes, attributes)
    domain: object = "real"           # value domain: name, callable, or one per input
    prims: tuple = ()                 # primitives every traced graph of this case holds
    ref: Callable | None = None       # numpy semantics: ref(*arrays, **params)
    rtol: float = F32_TOL["rtol"]
    atol: float = F32_TOL["atol"]
    compare_values: bool = True
    grad_prims: tuple = ()            # if set: gradients checked too; these are in their graph
    examples: float = 1.0  # times MAX_EXAMPLES (rich strategies get more)

    def __repr__(self):
        return f"OpCase({self.name})"


# ============================================================ value domains
def _float_domain(lo, hi):
    return lambda rng, shape, dtype: rng.uniform(lo, hi, shape)


def _nonzero(rng, shape, dtype):
    mag = rng.uniform(0.5, 3.0, shape) if np.issubdtype(dtype, np.floating) \
        else rng.integers(1, 6, shape)
    return mag * rng.choice([-1, 1], shape)


def _grid(rng, shape, dtype):
    """Multiples of 0.5 in [-2, 2]: ties, zeros and .5 roundings."""
    return rng.integers(-4, 5, shape) / 2


def _special(rng, shape, dtype):
    x = rng.uniform(-3, 3, shape)
    mask = rng.random(shape)
    x[mask < 0.15] = np.nan
    x[(mask >= 0.15) & (mask < 0.25)] = np.inf
    x[(mask >= 0.25) & (mask < 0.35)] = -np.inf
    return x


FLOAT_DOMAINS = {
    "real": _float_domain(-3, 3),
    "wide": _float_domain(-60, 60),
    "pos": _float_domain(0.1, 4),
    "byte": _float_domain(0, 255.9),
    "near_one": _float_domain(0.5, 1.5),
    "nonzero": _nonzero,
    "grid": _grid,
    "special": _special,
}
INT_DOMAINS = {
    "real": lambda rng, shape, dtype: rng.integers(-5, 6, shape),
    "grid": lambda rng, shape, dtype: rng.integers(-2, 3, shape),
    "pos": lambda rng, shape, dtype: rng.integers(1, 6, shape),
    "small": lambda rng, shape, dtype: rng.integers(0, 4, shape),
    "nonzero": _nonzero,
    "byte": lambda rng, shape, dtype: rng.integers(0, 256, shape),
}


def make_value(rng, arg: Arg, domain, example: Example) -> np.ndarray:
    dtype = np.dtype(arg.dtype)
    if callable(domain):
        return np.asarray(domain(rng, arg, example), dtype=dtype)
    if dtype == np.bool_:
        return rng.random(arg.shape) < 0.5
    if np.issubdtype(dtype, np.floating):
        return np.asarray(FLOAT_DOMAINS[domain](rng, arg.shape, dtype), dtype=dtype)
    return np.asarray(INT_DOMAINS.get(domain, INT_DOMAINS["real"])(rng, arg.shape, dtype),
                      dtype=dtype)


def make_inputs(case: OpCase, example: Example, seed: int) -> list[In]:
    rng = np.random.default_rng(seed)
    out = []
    for k, arg in enumerate(example.args):
        domain = arg.domain
        if domain is None:
            domain = case.domain[k] if isinstance(case.domain, tuple) else case.domain
        out.append(In(make_value(rng, arg, domain, example), tuple(arg.dynamic)))
    return out


# ======================================================= shape strategies
BATCH = st.integers(1, 4)
DIM = st.integers(1, 6)
FLOAT = "float32"


@st.composite
def shapes(draw, min_rank=1, max_rank=4):
    """A shape whose first (batch) dimension is 1..4 and the others 1..6."""
    rest = draw(st.lists(DIM, min_size=min_rank - 1, max_size=max_rank - 1))
    return (draw(BATCH),) + tuple(rest)


def _params(params):
    return st.fixed_dictionaries(params or {})


def unary(dtype=FLOAT, min_rank=1, max_rank=4, params=None):
    dtypes = st.sampled_from(dtype) if isinstance(dtype, (list, tuple)) else st.just(dtype)
    return st.builds(lambda s, d, p: Example([Arg(s, d)], p),
                     shapes(min_rank, max_rank), dtypes, _params(params))


@st.composite
def _broadcast_variant(draw, shape):
    """A shape broadcastable to ``shape``: equal, with ones, a static suffix, or a scalar."""
    kind = draw(st.sampled_from(["same", "ones", "suffix", "scalar"]))
    if kind == "same":
        return shape, (0,)
    if kind == "ones":
        # (a batch of 1 is static: the lowering names every unknown batch dimension "batch",
        # so ONNX Runtime may assume all dynamic batch sizes are equal)
        s = tuple(1 if draw(st.booleans()) else d for d in shape)
        return s, ((0,) if s[0] == shape[0] else ())
    if kind == "suffix":
        k = draw(st.integers(0, len(shape) - 1))
        return tuple(1 if draw(st.booleans()) else d for d in shape[k + 1:]), ()
    return (), ()


@st.composite
def nary(draw, n=2, dtypes=(FLOAT, FLOAT), min_rank=1, max_rank=4, params=None):
    """``n`` operands broadcasting together; the first has the full shape."""
    shape = draw(shapes(min_rank, max_rank))
    args = [Arg(shape, dtypes[0])]
    for k in range(1, n):
        s, dyn = draw(_broadcast_variant(shape))
        args.append(Arg(s, dtypes[k], dyn))
    if draw(st.booleans()):  # the full shape on the second operand instead
        args[0], args[1] = Arg(args[1].shape, dtypes[0], args[1].dynamic), Arg(shape, dtypes[1])
    return Example(args, draw(_params(params)))


def binary(dtype=FLOAT, **kw):
    if isinstance(dtype, (list, tuple)):
        return st.sampled_from(dtype).flatmap(lambda d: nary(2, (d, d), **kw))
    return nary(2, (dtype, dtype), **kw)


@st.composite
def axis_params(draw, rank, multi=True):
    """axis=None, an int (maybe negative), or a tuple of distinct axes (maybe empty)."""
    kind = draw(st.sampled_from(["none", "int", "tuple"] if multi else ["int"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-rank, rank - 1))
    axes = draw(st.lists(st.integers(0, rank - 1), unique=True, max_size=rank))
    return tuple(a - rank if draw(st.booleans()) else a for a in axes)


@st.composite
def reduce_example(draw, dtype=FLOAT, multi=True):
    shape = draw(shapes(1, 4))
    params = {"axis": draw(axis_params(len(shape), multi)), "keepdims": draw(st.booleans())}
    return Example([Arg(shape, dtype)], params)


@st.composite
def axis_example(draw, min_rank=1, max_rank=4, dtype=FLOAT):
    shape = draw(shapes(min_rank, max_rank))
    return Example([Arg(shape, dtype)], {"axis": draw(st.integers(-len(shape), len(shape) - 1))})


# ====================================================== numpy references
def _f64(fn):
    """Reference computed in float64, returned in the input's dtype."""
    def ref(x, **kw):
        return np.asarray(fn(x.astype(np.float64), **kw)).astype(x.dtype)
    return ref


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_selu(x):
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


def _ref_reduce(np_fn):
    def ref(x, axis, keepdims):
        return np.asarray(np_fn(x, axis=axis, keepdims=keepdims)).astype(x.dtype)
    return ref


def _ref_mean(x, axis, keepdims):
    m = np.mean(x.astype(np.float64), axis=axis, keepdims=keepdims)
    return (np.trunc(m) if np.issubdtype(x.dtype, np.integer) else m).astype(x.dtype)


def _ref_arg(np_fn):
    def ref(x, axis, keepdims):
        return np_fn(x, axis=axis, keepdims=keepdims).astype(np.int64)
    return ref


def _tf_same_pads(n, k, s, d):
    eff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + eff - n, 0)
    return total // 2, total - total // 2


def _pads_for(spatial, kernel, strides, dilations, padding):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "same":
        return [_tf_same_pads(*a) for a in zip(spatial, kernel, strides, dilations)]
    return [tuple(p) for p in padding]


def _windows(xp, kernel, strides, dilations, out):
    """For each kernel offset: (offset, strided view of xp, shape (B, *out, C))."""
    for off in np.ndindex(*kernel):
        index = (slice(None),) + tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, n, s in
                                       zip(off, dilations, out, strides)) + (slice(None),)
        yield off, xp[index]


def _out_sizes(spatial, kernel, strides, dilations, pads):
    return [(n + lo + hi - ((k - 1) * d + 1)) // s + 1
            for n, k, s, d, (lo, hi) in zip(spatial, kernel, strides, dilations, pads)]


def ref_conv(x, w, *bias, strides, padding, dilation_rate, groups):
    """TensorFlow's convolution, channels last, written as a sum over kernel offsets."""
    nd = x.ndim - 2
    kernel, cin_g, cout = w.shape[:nd], w.shape[nd], w.shape[-1]
    pads = _pads_for(x.shape[1:-1], kernel, strides, dilation_rate, padding)
    out = _out_sizes(x.shape[1:-1], kernel, strides, dilation_rate, pads)
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)])
    y = np.zeros((x.shape[0],) + tuple(out) + (cout,))
    cout_g = cout // groups
    for off, patch in _windows(xp, kernel, strides, dilation_rate, out):
        for g in range(groups):
            y[..., g * cout_g:(g + 1) * cout_g] += (
                patch[..., g * cin_g:(g + 1) * cin_g] @ w[off][:, g * cout_g:(g + 1) * cout_g])
    if bias:
        y = y + bias[0]
    return y.astype(x.dtype)


def ref_pool(kind):
    def ref(x, pool_size, strides, padding):
        nd = x.ndim - 2
        strides = pool_size if strides is None else strides
        ones = (1,) * nd
        pads = _pads_for(x.shape[1:-1], pool_size, strides, ones, padding)
        out = _out_sizes(x.shape[1:-1], pool_size, strides, ones, pads)
        width = [(0, 0)] + pads + [(0, 0)]
        xp = np.pad(x.astype(np.float64), width, constant_values=np.nan)
        wins = [p for _, p in _windows(xp, pool_size, strides, ones, out)]
        stack = np.stack(wins)
        y = np.nanmax(stack, axis=0) if kind == "max" else np.nanmean(stack, axis=0)
        return y.astype(x.dtype)
    return ref


def ref_softmax(x, axis):
    z = x.astype(np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def ref_log_softmax(x, axis):
    z = x.astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(x.dtype)


def ref_resize_bilinear(x, size):
    """TensorFlow's resize_bilinear(half_pixel_centers=True), one output pixel at a time."""
    b, h, w, c = x.shape
    oh, ow = size
    y = np.zeros((b, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            sy = max((i + 0.5) * h / oh - 0.5, 0.0)
            sx = max((j + 0.5) * w / ow - 0.5, 0.0)
            y0, x0 = int(math.floor(sy)), int(math.floor(sx))
            ty, tx = sy - y0, sx - x0
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            y0, x0 = min(y0, h - 1), min(x0, w - 1)
            acc = ((1 - ty) * ((1 - tx) * x[:, y0, x0] + tx * x[:, y0, x1])
                   + ty * ((1 - tx) * x[:, y1, x0] + tx * x[:, y1, x1]))
            y[:, i, j] = acc
    return y.astype(x.dtype)


def ref_conv_transpose(x, w, *bias, strides, padding, output_padding, dilation_rate):
    """Keras' Conv*DTranspose: scatter each input pixel, then crop to Keras' output size."""
    nd = x.ndim - 2
    kernel = w.shape[:nd]
    ops_ = output_padding or (None,) * nd
    outs, los = [], []
    for n, k, s, d, p in zip(x.shape[1:-1], kernel, strides, dilation_rate, ops_):
        eff = (k - 1) * d + 1
        if p is None:
            out = n * s + max(eff - s, 0) if padding == "valid" else n * s
        else:
            out = (n - 1) * s + eff - 2 * (eff // 2 if padding == "same" else 0) + p
        outs.append(out)
        los.append(0 if padding == "valid" else max((n - 1) * s + eff - out, 0) // 2)
    full_shape = [max((n - 1) * s + (k - 1) * d + 1, lo + o) for n, s, k, d, lo, o in
                  zip(x.shape[1:-1], strides, kernel, dilation_rate, los, outs)]
    full = np.zeros((x.shape[0],) + tuple(full_shape) + (w.shape[nd],))
    for pos in np.ndindex(*x.shape[1:-1]):
        for off in np.ndindex(*kernel):
            at = tuple(p * s + o * d for p, s, o, d in zip(pos, strides, off, dilation_rate))
            full[(slice(None),) + at] += x[(slice(None),) + pos].astype(np.float64) @ w[off].T
    y = full[(slice(None),) + tuple(slice(lo, lo + o) for lo, o in zip(los, outs))]
    if bias:
        y = y + bias[0]
    return y.astype(x.dtype)


def ref_one_hot(indices, num_classes, axis, dtype):
    """tf.one_hot: out-of-range (and negative) indices give all-zero rows."""
    hot = (indices[..., None] == np.arange(num_classes)).astype(dtype)
    return np.moveaxis(hot, -1, axis)


# ======================================================= special strategies
@st.composite
def cast_example(draw):
    src = draw(st.sampled_from(["float32", "int32", "int64", "bool", "float16", "uint8", "int8"]))
    dst = draw(st.sampled_from([d for d in ("float32", "float16", "float64", "int32", "int64",
                                             "int8", "uint8", "bool") if d != src]))
    domain = "byte" if "uint8" in (src, dst) else "grid"  # (float -> uint8 is undefined below 0)
    return Example([Arg(draw(shapes(1, 3)), src, domain=domain)], {"dtype": dst})


def where_example():
    return nary(3, ("bool", FLOAT, FLOAT))


@st.composite
def reshape_example(draw):
    shape = draw(shapes(1, 4))
    tail = shape[1:]
    size = int(np.prod(tail, dtype=np.int64))
    kind = draw(st.sampled_from(["flat", "minus1", "split", "full_minus1", "permuted"]))
    if kind == "flat":
        target = (None, size)
    elif kind == "minus1":
        target = (None, -1)
    elif kind == "split":  # factor the tail into (a, -1) or (-1, a)
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        a = draw(st.sampled_from(divisors))
        target = (None, a, -1) if draw(st.booleans()) else (None, -1, a)
    elif kind == "full_minus1":  # the batch folded in: (-1, last)
        target = (-1, shape[-1]) if len(shape) > 1 else (-1,)
    else:
        target = (None,) + tuple(reversed(tail))
    return Example([Arg(shape)], {"newshape": target})


def _ref_reshape(x, newshape):
    return x.reshape([x.shape[0] if d is None else d for d in newshape])


@st.composite
def transpose_example(draw):
    shape = draw(shapes(1, 4))
    perm = draw(st.permutations(range(len(shape))))
    if draw(st.booleans()):
        perm = [p - len(shape) if draw(st.booleans()) else p for p in perm]
    return Example([Arg(shape)], {"axes": None if draw(st.integers(0, 4)) == 0 else tuple(perm)})


@st.composite
def concat_example(draw, stacked=False):
    shape = draw(shapes(1, 4))
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([FLOAT, "int32"]))
    if stacked:
        axis = draw(st.integers(-len(shape) - 1, len(shape)))
        return Example([Arg(shape, dtype) for _ in range(n)], {"axis": axis})
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    args = []
    for _ in range(n):
        s = list(shape)
        if axis % len(shape) != 0:
            s[axis] = draw(DIM)
        args.append(Arg(tuple(s), dtype))
    return Example(args, {"axis": axis})


def _bound(n):
    return st.one_of(st.none(), st.integers(-n - 2, n + 2))


@st.composite
def slice_example(draw):
    shape = draw(shapes(1, 4))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1))
    starts, ends, steps = [], [], []
    for a in axes:
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        # (a start below -n stepping back on the unknown batch axis: see test_slice_limits)
        low = -shape[a] - (0 if a == 0 and step < 0 else 2)
        start = draw(st.integers(low, shape[a] + 2))
        end = draw(st.integers(-shape[a] - 2, shape[a] + 2))
        starts.append(start)
        ends.append(end)
        steps.append(step)
    return Example([Arg(shape)], {"starts": starts, "ends": ends, "axes": axes, "steps": steps})


def _ref_slice(x, starts, ends, axes, steps):
    index = [slice(None)] * x.ndim
    for s, e, a, st_ in zip(starts, ends, axes, steps):
        index[a] = slice(s, e, st_)
    return x[tuple(index)]


@st.composite
def getitem_example(draw):
    """Ints, slices (any bounds and steps), an Ellipsis, np.newaxis, and at most one list
    index with the ints next to it (numpy reorders axes otherwise: not supported)."""
    shape = draw(shapes(1, 4))
    rank = len(shape)
    n_index = draw(st.integers(0, rank))
    ellipsis_at = draw(st.one_of(st.none(), st.integers(0, n_index))) if n_index < rank else None
    if ellipsis_at is None:
        axes = list(range(n_index))
    else:
        axes = list(range(ellipsis_at)) + list(range(rank - n_index + ellipsis_at, rank))
    array_at = draw(st.one_of(st.none(), st.sampled_from(range(len(axes))))) if axes else None
    if array_at is not None and axes[array_at] == 0:
        array_at = None  # (a list index on the batch axis needs a known batch size)
    index = []
    for k, axis in enumerate(axes):
        n = shape[axis]
        if k == array_at:
            index.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
            continue
        kind = draw(st.sampled_from(["full", "int", "slice", "slice"]))
        if kind == "full":
            index.append(slice(None))
        elif kind == "int":
            index.append(draw(st.integers(-n, n - 1)))
        else:
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            start = draw(_bound(n))
            if axis == 0 and step is not None and step < 0 and start is not None:
                start = max(start, -n)  # see test_slice_limits
            index.append(slice(start, draw(_bound(n)), step))
    if ellipsis_at is not None:
        index.insert(ellipsis_at, Ellipsis)
        if array_at is not None and array_at >= ellipsis_at:
            array_at += 1
    lo, hi = None, None  # np.newaxis goes anywhere but between lo and hi
    if array_at is not None:
        lo = hi = array_at
        while lo > 0 and type(index[lo - 1]) is int:
            lo -= 1
        while hi + 1 < len(index) and type(index[hi + 1]) is int:
            hi += 1
        index = [slice(None) if type(i) is int and not lo <= k <= hi else i
                 for k, i in enumerate(index)]
        hi += 1
    for _ in range(draw(st.integers(0, 2))):
        if lo is None:
            index.insert(draw(st.integers(0, len(index))), None)
            continue
        pos = draw(st.one_of(st.integers(0, lo), st.integers(hi, len(index))))
        index.insert(pos, None)
        if pos <= lo:
            lo, hi = lo + 1, hi + 1
    index = tuple(index)
    return Example([Arg(shape)], {"index": index[0] if len(index) == 1 else index})


@st.composite
def take_example(draw):
    kind = draw(st.sampled_from(["table", "batched"]))
    idx_dtype = draw(st.sampled_from(["int32", "int64"]))
    if kind == "table":  # embedding lookup: static table, batched indices
        table = (draw(DIM),) + tuple(draw(st.lists(DIM, max_size=2)))
        idx = draw(shapes(1, 3))
        return Example([Arg(table, dynamic=()), Arg(idx, idx_dtype, domain=_index_domain(0))],
                       {"axis": 0})
    shape = draw(shapes(2, 4))
    axis = draw(st.integers(1, len(shape) - 1))
    idx = tuple(draw(st.lists(DIM, max_size=2)))
    return Example([Arg(shape), Arg(idx, idx_dtype, dynamic=(), domain=_index_domain(axis))],
                   {"axis": axis - len(shape) if draw(st.booleans()) else axis})


def _index_domain(axis, arg_index=0):
    """Indices in [-n, n) for axis ``axis`` of input ``arg_index``."""
    def dom(rng, arg, example):
        n = example.args[arg_index].shape[axis]
        return rng.integers(-n, n, arg.shape)
    return dom


@st.composite
def expand_dims_example(draw):
    shape = draw(shapes(1, 4))
    out_rank = len(shape) + draw(st.integers(1, 2))
    axes = draw(st.lists(st.integers(1, out_rank - 1), unique=True, min_size=out_rank - len(shape),
                         max_size=out_rank - len(shape)))
    axes = [a - out_rank if draw(st.booleans()) else a for a in axes]
    return Example([Arg(shape)], {"axis": axes[0] if len(axes) == 1 else tuple(axes)})


@st.composite
def squeeze_example(draw):
    shape = list(draw(shapes(2, 4)))
    ones = draw(st.lists(st.integers(1, len(shape) - 1), unique=True, min_size=1))
    for a in ones:
        shape[a] = 1
    axes = draw(st.lists(st.sampled_from(ones), unique=True, min_size=1))
    axis = axes[0] if len(axes) == 1 else tuple(axes)
    return Example([Arg(tuple(shape))], {"axis": axis})


@st.composite
def broadcast_to_example(draw):
    target = draw(shapes(1, 4))
    k = draw(st.integers(0, len(target) - 1))
    shape = tuple(1 if draw(st.booleans()) else d for d in target[k:])
    dynamic = (0,) if k == 0 else ()
    return Example([Arg(shape, dynamic=dynamic)], {"shape": (None,) + target[1:]})


def _ref_broadcast_to(x, shape):
    """``None`` in the target keeps x's size there (1 where x has no such axis)."""
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(1 if d is None else d
                                                                  for d in shape)))


@st.composite
def tile_example(draw):
    shape = draw(shapes(1, 3))
    reps = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=len(shape) + 1)))
    return Example([Arg(shape)], {"repeats": reps[0] if len(reps) == 1 and draw(st.booleans())
                                  else reps})


@st.composite
def pad_example(draw):
    shape = draw(shapes(1, 4))
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    if mode == "reflect":
        pads = [(draw(st.integers(0, min(2, d - 1))), draw(st.integers(0, min(2, d - 1))))
                for d in shape]
    else:
        pads = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape]
    dtype = draw(st.sampled_from([FLOAT, "int32"]))
    params = {"pad_width": pads, "mode": mode}
    if mode == "constant":
        params["constant_values"] = draw(st.sampled_from([0, 1, -2.0, 3.5]))
    return Example([Arg(shape, dtype)], params)


def _ref_pad(x, pad_width, mode, constant_values=0):
    if mode == "constant":
        return np.pad(x, pad_width, mode="constant",
                      constant_values=np.asarray(constant_values).astype(x.dtype))
    return np.pad(x, pad_width, mode=mode)


@st.composite
def matmul_example(draw):
    kind = draw(st.sampled_from(["dense", "dense3", "batched", "broadcast", "vector", "int"]))
    b, m, k, n = draw(BATCH), draw(DIM), draw(DIM), draw(DIM)
    if kind == "dense":
        return Example([Arg((b, k)), Arg((k, n), dynamic=())])
    if kind == "dense3":
        return Example([Arg((b, m, k)), Arg((k, n), dynamic=())])
    if kind == "batched":
        return Example([Arg((b, m, k)), Arg((b, k, n))])
    if kind == "broadcast":
        h = draw(st.integers(1, 3))
        return Example([Arg((b, 1, m, k)), Arg((h, k, n), dynamic=())])
    if kind == "vector":
        return Example([Arg((b, k)), Arg((k,), dynamic=())])
    dt = draw(st.sampled_from(["int32", "int64"]))
    return Example([Arg((b, m, k), dt), Arg((k, n), dt, dynamic=())])


@st.composite
def einsum_example(draw):
    """The equations attention layers use (projections, scores, combination), a sum over
    one operand's own axis, and numpy's implicit/ellipsis forms; batch axis dynamic."""
    b, t, s, h, k, d = (draw(BATCH), draw(DIM), draw(DIM), draw(st.integers(1, 3)), draw(DIM),
                        draw(DIM))
    kind = draw(st.sampled_from(["proj", "out_proj", "scores", "combine", "own_sum", "ellipsis",
                                 "single"]))
    if kind == "proj":
        return Example([Arg((b, t, d)), Arg((d, h, k), dynamic=())], {"equation": "abc,cde->abde"})
    if kind == "out_proj":
        return Example([Arg((b, t, h, k)), Arg((h, k, d), dynamic=())],
                       {"equation": "abcd,cde->abe"})
    if kind == "scores":
        return Example([Arg((b, s, h, k)), Arg((b, t, h, k))], {"equation": "aecd,abcd->acbe"})
    if kind == "combine":
        return Example([Arg((b, h, t, s)), Arg((b, s, h, k))], {"equation": "acbe,aecd->abcd"})
    if kind == "own_sum":
        return Example([Arg((b, t, d)), Arg((d, k), dynamic=())], {"equation": "abc,cd->ad"})
    if kind == "ellipsis":
        return Example([Arg((b, t, d)), Arg((d, k), dynamic=())], {"equation": "...c,cd"})
    return Example([Arg((b, t, d))], {"equation": "abc->cb"})


def _compiles_with_unknown_sizes(kernel, strides, dilations, padding):
    """SAME padding of unknown spatial sizes compiles unless ONNX Runtime must pad at run time
    (some stride > 1 with a window over 2) with a dilation or a window smaller than its stride."""
    if padding != "same":
        return True
    effs = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if all(s == 1 or e <= 2 for e, s in zip(effs, strides)):
        return True
    return all(d == 1 and e >= s for e, s, d in zip(effs, strides, dilations))


@st.composite
def conv_example(draw, static_spatial=False):
    nd = draw(st.sampled_from([1, 2, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2]))
    cin_g, cout = draw(st.integers(1, 3)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilations = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(st.sampled_from(["valid", "same", "explicit"]))
    if padding == "explicit":
        padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
    hi = 5 if nd < 3 else 2
    spatial = tuple((k - 1) * d + 1 + draw(st.integers(0, hi)) for k, d in zip(kernel, dilations))
    dynamic = (0,)
    if _compiles_with_unknown_sizes(kernel, strides, dilations, padding) and not static_spatial \
            and draw(st.booleans()):
        dynamic = (0,) + tuple(range(1, nd + 1))
    args = [Arg((draw(BATCH),) + spatial + (cin_g * groups,), dynamic=dynamic),
            Arg(kernel + (cin_g, cout), dynamic=())]
    if draw(st.booleans()):
        args.append(Arg((cout,), dynamic=()))
    params = {"strides": strides, "padding": padding, "dilation_rate": dilations,
              "groups": groups}
    return Example(args, params)


def _conv(x, w, *bias, **kw):
    return ops.conv(x, w, bias[0] if bias else None, **kw)


@st.composite
def conv_transpose_example(draw):
    nd = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilations = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if max(strides) == 1 \
        else (1,) * nd  # as Keras: dilation > 1 only with unit strides
    padding = draw(st.sampled_from(["valid", "same"]))
    output_padding = None
    if draw(st.booleans()):
        output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides)
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    if output_padding is not None and padding == "same":  # Keras' output size must be > 0
        output_padding = tuple(max(p, 1 - (n - 1) * s - ((k - 1) * d + 1) % 2) for p, n, s, k, d in
                               zip(output_padding, spatial, strides, kernel, dilations))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    args = [Arg((draw(BATCH),) + spatial + (cin,)), Arg(kernel + (cout, cin), dynamic=())]
    if draw(st.booleans()):
        args.append(Arg((cout,), dynamic=()))
    return Example(args, {"strides": strides, "padding": padding,
                          "output_padding": output_padding, "dilation_rate": dilations})


def _conv_transpose(x, w, *bias, **kw):
    return ops.conv_transpose(x, w, bias[0] if bias else None, **kw)


@st.composite
def pool_example(draw, static_spatial=False):
    nd = draw(st.sampled_from([1, 2, 2, 3]))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = draw(st.sampled_from(["valid", "same"]))
    hi = 5 if nd < 3 else 2
    spatial = tuple(k + draw(st.integers(0, hi)) for k in pool)
    dynamic = (0,)
    if _compiles_with_unknown_sizes(pool, strides or pool, (1,) * nd, padding) \
            and not static_spatial and draw(st.booleans()):
        dynamic = (0,) + tuple(range(1, nd + 1))
    x = Arg((draw(BATCH),) + spatial + (draw(st.integers(1, 3)),), dynamic=dynamic)
    return Example([x], {"pool_size": pool, "strides": strides, "padding": padding})


@st.composite
def resize_example(draw):
    shape = (draw(BATCH), draw(DIM), draw(DIM), draw(st.integers(1, 3)))
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    return Example([Arg(shape)], {"size": size})


@st.composite
def one_hot_example(draw):
    shape = draw(shapes(1, 3))
    n = draw(st.integers(1, 6))
    axis = draw(st.integers(-1, len(shape)))
    dtype = draw(st.sampled_from(["float32", "int32", "int64"]))
    idx_dtype = draw(st.sampled_from(["int32", "int64"]))
    indices = Arg(shape, idx_dtype, domain=lambda rng, a, e: rng.integers(-1, n + 1, a.shape))
    return Example([indices], {"num_classes": n, "axis": axis, "dtype": dtype})


@st.composite
def split_example(draw):
    shape = draw(shapes(2, 4))
    axis = draw(st.integers(1, len(shape) - 1))
    n = shape[axis]
    if draw(st.booleans()):
        sections = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    else:
        sections = sorted(draw(st.lists(st.integers(0, n), min_size=1, max_size=3)))
    return Example([Arg(shape)], {"indices_or_sections": sections,
                                  "axis": axis - len(shape) if draw(st.booleans()) else axis})


@st.composite
def repeat_example(draw):
    shape = draw(shapes(1, 4))
    return Example([Arg(shape)], {"repeats": draw(st.integers(1, 3)),
                                  "axis": draw(st.integers(-len(shape), len(shape) - 1))})


@st.composite
def clip_example(draw):
    lo = draw(st.sampled_from([-2.0, -1.0, 0.0, 0.5]))
    return Example([Arg(draw(shapes(1, 4)))], {"x_min": lo, "x_max": lo + draw(
        st.sampled_from([0.0, 0.5, 1.0, 3.0]))})


@st.composite
def like_example(draw, broadcast):
    """``x`` and a ``like`` tensor whose run-time shape ``x`` takes (reshape or broadcast)."""
    like = draw(shapes(1, 4))
    if broadcast:
        k = draw(st.integers(0, len(like) - 1))
        x = tuple(1 if draw(st.booleans()) else d for d in like[k:])
        x_dynamic = (0,) if k == 0 and x[0] == like[0] else ()
    else:
        x = (like[0], int(np.prod(like[1:], dtype=np.int64)))
        x_dynamic = (0,)
    return Example([Arg(x, dynamic=x_dynamic), Arg(like)])


@st.composite
def split_leading_example(draw):
    """Rows that are ``parts`` equal batches; every dimension may be unknown when traced
    (a steps loop's batches of sequences of any length)."""
    parts = draw(st.integers(1, 3))
    shape = draw(shapes(1, 4))
    shape = (parts * shape[0],) + shape[1:]
    dynamic = tuple(k for k in range(len(shape)) if k == 0 or draw(st.booleans()))
    return Example([Arg(shape, dynamic=dynamic)], {"parts": parts})


@st.composite
def scatter_add_example(draw):
    """The gradient of gather: rows of ``updates`` added into zeros shaped like ``like``."""
    idx_dtype = draw(st.sampled_from(["int32", "int64"]))
    if draw(st.booleans()):  # embedding table: static like, batched indices
        like = (draw(DIM),) + tuple(draw(st.lists(DIM, max_size=2)))
        idx = draw(shapes(1, 2))
        return Example([Arg(idx + like[1:]), Arg(like, dynamic=()),
                        Arg(idx, idx_dtype, domain=_index_domain(0, 1))], {"axis": 0})
    like = draw(shapes(2, 4))
    axis = draw(st.integers(1, len(like) - 1))
    idx = tuple(draw(st.lists(DIM, min_size=1, max_size=2)))
    updates = like[:axis] + idx + like[axis + 1:]
    return Example([Arg(updates), Arg(like), Arg(idx, idx_dtype, dynamic=(),
                                                 domain=_index_domain(axis, 1))], {"axis": axis})


def ref_scatter_add(updates, like, indices, axis):
    out = np.zeros(like.shape, np.float64)
    for pos in np.ndindex(*indices.shape):
        i = indices[pos] % like.shape[axis]
        src = (slice(None),) * axis + pos
        dst = (slice(None),) * axis + (i,)
        out[dst] += updates[src]
    return out.astype(updates.dtype)


@st.composite
def dim_size_example(draw):
    shape = draw(shapes(1, 4))
    axes = (0,) + tuple(draw(st.lists(st.integers(1, len(shape) - 1), unique=True))) \
        if len(shape) > 1 else (0,)
    return Example([Arg(shape)], {"axes": axes, "dtype": draw(st.sampled_from(
        ["float32", "int64", "int32"]))})


def _special_values(x):
    """NaN and +-inf through the elementwise ops: numpy and ONNX Runtime agree. (Not so for
    max reductions, argmax and max pooling: ONNX Runtime skips NaN where numpy returns it.)"""
    return [ops.relu(x), ops.sigmoid(x), ops.tanh(x), ops.exp(x), ops.abs(x), ops.sign(x),
            ops.floor(x), ops.round(x), ops.maximum(x, 0.5), ops.minimum(x, 0.5),
            ops.clip(x, -1.0, 1.0), ops.softplus(x), ops.elu(x), ops.selu(x),
            ops.leaky_relu(x), ops.negative(x), ops.erf(x), ops.cast(x, "bool"),
            ops.where(ops.isnan(x), 0.0, x), ops.sum(x, axis=-1), ops.mean(x, 0),
            ops.softmax(x), ops.greater(x, 0.0), ops.equal(x, x)]


def _operators(x, y, w):
    """Python operators on tensors (and on numpy arrays for the eager run)."""
    z = (x + y * 2.0 - x / 3.0) ** 2.0
    z = -z + abs(x) - (y // 1.5) + (x % 1.25)
    z = z @ w
    m = (x < y) | ~(x >= y) & (x > 0)
    return [z, m, z[..., :1], 2.0 - x, 1.0 / (abs(x) + 1.0)]


@st.composite
def operators_example(draw):
    b, k, n = draw(BATCH), draw(DIM), draw(DIM)
    return Example([Arg((b, k)), Arg((b, k), domain="nonzero"), Arg((k, n), dynamic=())])


# ============================================================ the table
def U(name, domain="real", ref=None, dtype=FLOAT, **kw):
    """A unary float op named like its primitive."""
    return OpCase(name, getattr(ops, name), unary(dtype), domain, prims=(name,), ref=ref, **kw)


def B(name, domain="real", ref=None, dtype=FLOAT, fn=None, prims=None, suffix="", **kw):
    """A binary op named like its primitive."""
    return OpCase(name + suffix, fn or getattr(ops, name), binary(dtype), domain,
                  prims=(name,) if prims is None else prims, ref=ref, **kw)


INTS = ["int32", "int64"]

def _rnn_scan(x, w, u, h0, reverse, time_major):
    """A tanh recurrence: the sequence, a captured constant, a carry; two outputs per step."""
    seq = x if time_major else ops.transpose(x, (1, 0, 2))

    def cell(carry, xs):
        h = ops.tanh(ops.add(ops.matmul(xs[0], w), ops.matmul(carry[0], u)))
        return [h], [h, ops.sum(ops.multiply(h, xs[0][..., :1]), axis=-1)]

    (last,), (hs, s) = ops.scan(cell, [h0], [seq], reverse=reverse)
    return last, hs, s


def _rnn_scan_ref(x, w, u, h0, reverse, time_major):
    seq = x if time_major else x.transpose(1, 0, 2)
    h, hs, ss = h0, [], []
    for t in (range(len(seq) - 1, -1, -1) if reverse else range(len(seq))):
        h = np.tanh(seq[t] @ w + h @ u)
        hs.append(h)
        ss.append((h * seq[t][..., :1]).sum(-1))
    if reverse:
        hs, ss = hs[::-1], ss[::-1]
    return h, np.stack(hs), np.stack(ss)


@st.composite
def scan_example(draw):
    steps, batch, features, units = draw(st.integers(1, 4)), draw(BATCH), draw(DIM), draw(DIM)
    time_major = draw(st.booleans())
    x_shape = (steps, batch, features) if time_major else (batch, steps, features)
    dynamic = (0, 1) if draw(st.booleans()) else ((1,) if time_major else (0,))
    return Example([Arg(x_shape, dynamic=dynamic), Arg((features, units), dynamic=()),
                    Arg((units, units), dynamic=(), domain=lambda rng, arg, ex: rng.uniform(-.5, .5, arg.shape)),
                    Arg((batch, units))],
                   {"reverse": draw(st.booleans()), "time_major": time_major})


CASES = [
    # ---------------------------------------------------------- unary maths
    U("negative", ref=np.negative),
    OpCase("negative_int", ops.negative, unary(INTS), "real", ("negative",), np.negative),
    U("exp", "real", _f64(np.exp)),
    U("log", "pos", _f64(np.log)),
    U("sqrt", "pos", _f64(np.sqrt)),
    U("abs", "real", np.abs),
    OpCase("abs_int", ops.abs, unary(INTS), "real", ("abs",), np.abs),
    U("sign", "grid", np.sign),
    OpCase("sign_int", ops.sign, unary(INTS), "real", ("sign",), np.sign),
    U("floor", "real", np.floor),
    U("ceil", "real", np.ceil),
    U("round", "grid", np.round),  # halves: both round half to even (as tf.round)
    U("sin", "real", _f64(np.sin)),
    U("cos", "real", _f64(np.cos)),
    U("tanh", "wide", _f64(np.tanh)),
    U("sigmoid", "wide", _f64(_np_sigmoid)),
    U("erf", "real", _f64(np.vectorize(math.erf))),
    U("relu", "grid", lambda x: np.maximum(x, 0)),
    OpCase("relu_int", ops.relu, unary(INTS), "real", ("relu",), lambda x: np.maximum(x, 0)),
    U("reciprocal", "nonzero", _f64(lambda x: 1 / x)),
    U("softplus", "wide", _f64(lambda x: np.logaddexp(0, x))),
    U("softsign", "real", _f64(lambda x: x / (1 + np.abs(x)))),
    OpCase("elu", ops.elu, unary(params={"alpha": st.sampled_from([0.1, 1.0, 1.7])}), "real",
           ("elu",), _f64(lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))),
    OpCase("leaky_relu", ops.leaky_relu, unary(params={"alpha": st.sampled_from([0.0, 0.2, 0.3])}),
           "real", ("leaky_relu",), _f64(lambda x, alpha: np.where(x >= 0, x, alpha * x))),
    OpCase("selu", ops.selu, unary(), "real", ("selu",), _f64(_np_selu)),
    OpCase("cast", ops.cast, cast_example(), "grid", ("cast",), lambda x, dtype: x.astype(dtype)),
    OpCase("logical_not", ops.logical_not, unary("bool"), "real", ("logical_not",),
           np.logical_not),
    OpCase("isnan", ops.isnan, unary(), "special", ("is_nan",), np.isnan),
    OpCase("isinf", ops.isinf, unary(), "special", ("is_inf",), np.isinf),
    # ------------------------------------------------------------- binary
    B("add", ref=np.add),
    B("add", dtype=INTS, ref=np.add, suffix="_int"),
    B("subtract", ref=np.subtract),
    B("subtract", dtype=INTS, ref=np.subtract, suffix="_int"),
    B("multiply", ref=np.multiply),
    B("multiply", dtype=INTS, ref=np.multiply, suffix="_int"),
    B("divide", ("real", "nonzero"), ref=lambda x, y: (x.astype(np.float64) / y).astype(x.dtype)),
    B("divide", ("real", "nonzero"), dtype=INTS, suffix="_int",  # C-style truncation
      ref=lambda x, y: np.trunc(x / y).astype(x.dtype)),
    B("power", ("pos", "real"), ref=lambda x, y: np.power(x.astype(np.float64), y).astype(x.dtype),
      rtol=2e-5),
    B("power", ("real", "small"), dtype=INTS, suffix="_int", ref=np.power),
    B("maximum", "grid", ref=np.maximum),
    B("maximum", dtype=INTS, ref=np.maximum, suffix="_int"),
    B("minimum", "grid", ref=np.minimum),
    B("minimum", dtype=INTS, ref=np.minimum, suffix="_int"),
    B("equal", "grid", ref=np.equal, dtype=[FLOAT, "int32", "int64", "bool"]),
    B("less", "grid", ref=np.less, dtype=[FLOAT, "int32", "int64"]),
    B("less_equal", "grid", ref=np.less_equal, dtype=[FLOAT, "int32", "int64"]),
    B("greater", "grid", ref=np.greater, dtype=[FLOAT, "int32", "int64"]),
    B("greater_equal", "grid", ref=np.greater_equal, dtype=[FLOAT, "int32", "int64"]),
    B("logical_and", dtype="bool", ref=np.logical_and),
    B("logical_or", dtype="bool", ref=np.logical_or),
    B("logical_xor", dtype="bool", ref=np.logical_xor),
    OpCase("where", ops.where, where_example(), "real", ("where",), np.where),
    # --------------------------------------------------------- reductions
    OpCase("sum", ops.sum, reduce_example(), "real", ("reduce_sum",),
           _ref_reduce(np.sum), **SUM_TOL),
    OpCase("sum_int", ops.sum, reduce_example("int32"),
           "real", ("reduce_sum",), _ref_reduce(np.sum)),
    OpCase("mean", ops.mean, reduce_example(), "real", ("reduce_mean",), _ref_mean, **SUM_TOL),
    OpCase("mean_int", ops.mean, reduce_example("int64"), "real", ("reduce_mean",), _ref_mean),
    OpCase("max", ops.max, reduce_example(), "grid", ("reduce_max",), _ref_reduce(np.max)),
    OpCase("max_int", ops.max, reduce_example("int32"), "real", ("reduce_max",),
           _ref_reduce(np.max)),
    OpCase("min", ops.min, reduce_example(), "grid", ("reduce_min",), _ref_reduce(np.min)),
    OpCase("min_int", ops.min, reduce_example("int64"), "real", ("reduce_min",),
           _ref_reduce(np.min)),
    OpCase("prod", ops.prod, reduce_example(), "near_one", ("reduce_prod",),
           _ref_reduce(np.prod), **SUM_TOL),
    OpCase("prod_int", ops.prod, reduce_example("int64"), "grid", ("reduce_prod",),
           _ref_reduce(np.prod)),
    OpCase("argmax", ops.argmax, reduce_example(multi=False), "grid", ("argmax",),
           _ref_arg(np.argmax)),
    OpCase("argmin", ops.argmin, reduce_example("int32", multi=False), "grid", ("argmin",),
           _ref_arg(np.argmin)),
    # ----------------------------------------------------- shape movement
    OpCase("constant", lambda x: ops.where(
        ops.greater(x, np.float32(0)), np.array([np.nan, np.inf, -0.0], np.float32)[:x.shape[-1]],
        np.float32(2.5)), unary(min_rank=2, max_rank=2).filter(lambda e: e.args[0].shape[1] <= 3),
        "grid", ("constant", "where"),
        lambda x: np.where(x > 0, np.array([np.nan, np.inf, -0.0], np.float32)[:x.shape[-1]],
                           np.float32(2.5))),
    OpCase("constant_int_bool", lambda x: [
        ops.add(x, np.arange(x.shape[-1], dtype=np.int64)),
        ops.logical_and(ops.greater(x, np.int64(0)), np.array(True))],
        unary("int64", min_rank=2), "real", ("constant",),
        lambda x: [x + np.arange(x.shape[-1]), (x > 0) & True]),
    OpCase("reshape", ops.reshape, reshape_example(), "real", ("reshape",), _ref_reshape),
    OpCase("transpose", ops.transpose, transpose_example(), "real", ("transpose",),
           lambda x, axes: np.transpose(x, axes)),
    OpCase("concatenate", lambda *xs, axis: ops.concatenate(xs, axis=axis), concat_example(),
           "real", ("concat",), lambda *xs, axis: np.concatenate(xs, axis=axis)),
    OpCase("slice_axes", ops.slice_axes, slice_example(), "real", ("slice",), _ref_slice),
    OpCase("getitem", lambda x, index: ops.getitem(x, index), getitem_example(), "real", (),
           lambda x, index: x[index]),
    OpCase("take", ops.take, take_example(), "real", ("gather",),
           lambda x, i, axis: np.take(x, i, axis=axis)),
    OpCase("expand_dims", ops.expand_dims, expand_dims_example(), "real", ("unsqueeze",),
           lambda x, axis: np.expand_dims(x, axis)),
    OpCase("squeeze", ops.squeeze, squeeze_example(), "real", ("squeeze",),
           lambda x, axis: np.squeeze(x, axis)),
    OpCase("broadcast_to", ops.broadcast_to, broadcast_to_example(), "real", ("expand",),
           _ref_broadcast_to),
    OpCase("tile", ops.tile, tile_example(), "real", ("tile",),
           lambda x, repeats: np.tile(x, repeats)),
    OpCase("pad", ops.pad, pad_example(), "real", ("pad",), _ref_pad),
    # ------------------------------------------------------------------ nn
    OpCase("matmul", ops.matmul, matmul_example(), "real", ("matmul",), np.matmul, **SUM_TOL),
    OpCase("einsum", lambda *xs, equation: ops.einsum(equation, *xs), einsum_example(), "real",
           ("einsum",), lambda *xs, equation: np.einsum(equation, *xs), grad_prims=("einsum",),
           **SUM_TOL),
    OpCase("arange_like", lambda x, axis, dtype: arange_like(x, axis, dtype),
           unary(min_rank=2, params={"axis": st.integers(-2, 1),
                                     "dtype": st.sampled_from(["int64", "int32", "float32"])}),
           "real", ("arange_like",), lambda x, axis, dtype: np.arange(x.shape[axis], dtype=dtype)),
    OpCase("conv", _conv, conv_example(), "real", ("conv",), ref_conv, **SUM_TOL),
    OpCase("conv_transpose", _conv_transpose, conv_transpose_example(), "real",
           ("conv_transpose",), ref_conv_transpose, **SUM_TOL),
    OpCase("max_pool", ops.max_pool, pool_example(), "real", ("max_pool",), ref_pool("max")),
    OpCase("average_pool", ops.average_pool, pool_example(), "real", ("avg_pool",),
           ref_pool("avg"), **SUM_TOL),
    OpCase("softmax", ops.softmax, axis_example(), "wide", ("softmax",), ref_softmax),
    OpCase("log_softmax", ops.log_softmax, axis_example(), "wide", ("log_softmax",),
           ref_log_softmax, rtol=1e-5, atol=1e-5),
    OpCase("resize_bilinear", ops.resize_bilinear, resize_example(), "real", ("resize_bilinear",),
           ref_resize_bilinear, **SUM_TOL),
    # --------------------------------- gradients: vjp rules and backward-only primitives
    OpCase("conv_grad", _conv, conv_example(static_spatial=True), "real", ("conv",),
           grad_prims=("conv_input_grad", "conv_kernel_grad"), **SUM_TOL),
    OpCase("max_pool_grad", ops.max_pool, pool_example(static_spatial=True), "real",
           ("max_pool",), grad_prims=("max_pool_grad",)),
    OpCase("average_pool_grad", ops.average_pool, pool_example(static_spatial=True), "real",
           ("avg_pool",), grad_prims=("conv_input_grad",), **SUM_TOL),
    # ------------------------------------------- run-time shapes (gradients)
    OpCase("reshape_like", reshape_like, like_example(False), "real", ("reshape_like",),
           lambda x, like: x.reshape(like.shape)),
    OpCase("split_leading", ops.split_leading, split_leading_example(), "real",
           ("split_leading",), lambda x, parts: x.reshape((parts, -1) + x.shape[1:]),
           grad_prims=("reshape_like",)),
    OpCase("broadcast_like", broadcast_like, like_example(True), "real",
           ("broadcast_like",), lambda x, like: np.broadcast_to(x, like.shape)),
    OpCase("scatter_add", scatter_add, scatter_add_example(), "real", ("scatter_add",),
           ref_scatter_add, **SUM_TOL),
    OpCase("dim_size", dim_size, dim_size_example(), "real", ("dim_size",),
           lambda x, axes, dtype: np.asarray(np.prod([x.shape[a] for a in axes]), dtype)),
    # -------------------------------------------------------------- random
    OpCase("uniform_like", ops.uniform_like, unary(params={"seed": st.sampled_from([None, 3])}),
           "real", ("random_uniform_like",), compare_values=False),
    OpCase("normal_like", ops.normal_like, unary(params={"seed": st.sampled_from([None, 3])}),
           "real", ("random_normal_like",), compare_values=False),
    OpCase("stop_gradient", ops.stop_gradient, unary(), "real", ("stop_gradient",), lambda x: x),
    # counter-based: the same bits on every path, so values are compared exactly
    OpCase("hash_uniform", lambda x, key: ops.hash_uniform(x, np.int64(key)),
           unary(params={"key": st.integers(0, 2**40)}), "real", ("hash_uniform",),
           lambda x, key: _np_hash_uniform(x, key), rtol=0, atol=0),
    # ---------------------------------------------------------- composites
    OpCase("square", ops.square, unary(), "real", ("multiply",), np.square),
    OpCase("rsqrt", ops.rsqrt, unary(), "pos", ("sqrt", "reciprocal"),
           _f64(lambda x: 1 / np.sqrt(x))),
    OpCase("clip", ops.clip, clip_example(), "real", ("maximum", "minimum"),
           lambda x, x_min, x_max: np.minimum(np.maximum(x, x_min), x_max).astype(x.dtype)),
    OpCase("not_equal", ops.not_equal, binary([FLOAT, "int32"]), "grid", ("equal", "logical_not"),
           np.not_equal),
    OpCase("log1p", ops.log1p, unary(), "pos", ("log",), _f64(np.log1p)),
    OpCase("expm1", ops.expm1, unary(), "real", ("exp",), _f64(np.expm1), atol=1e-5),
    OpCase("true_divide", ops.true_divide, binary(), ("real", "nonzero"), ("divide",),
           lambda x, y: (x / y).astype(x.dtype)),
    OpCase("floor_divide", ops.floor_divide, binary(), ("real", "nonzero"), ("divide", "floor"),
           lambda x, y: np.floor_divide(x, y).astype(x.dtype)),
    OpCase("floor_divide_int", ops.floor_divide, binary(INTS), ("real", "nonzero"),
           ("divide", "floor", "cast"), np.floor_divide),
    OpCase("mod", ops.mod, binary(), ("real", "nonzero"), ("floor",),
           lambda x, y: np.mod(x, y).astype(x.dtype), atol=1e-5),
    OpCase("mod_int", ops.mod, binary(INTS), ("real", "nonzero"), ("floor",), np.mod),
    OpCase("one_hot", ops.one_hot, one_hot_example(), "real", ("equal", "cast"), ref_one_hot),
    OpCase("split", ops.split, split_example(), "real", (),
           lambda x, indices_or_sections, axis: np.split(x, indices_or_sections, axis)),
    OpCase("stack", lambda *xs, axis: ops.stack(xs, axis=axis), concat_example(stacked=True),
           "real", ("unsqueeze", "concat"), lambda *xs, axis: np.stack(xs, axis=axis)),
    OpCase("repeat", ops.repeat, repeat_example(), "real", ("tile",),
           lambda x, repeats, axis: np.repeat(x, repeats, axis)),
    OpCase("flatten_batch", ops.flatten_batch, unary(), "real", ("reshape",),
           lambda x: x.reshape(x.shape[0], -1)),
    OpCase("matmul_vector_left", lambda w, x: ops.matmul(w, x),
           st.builds(lambda k, b, n: Example([Arg((k,), dynamic=()), Arg((b, k, n))]), DIM, BATCH,
                     DIM), "real", ("matmul", "squeeze"), np.matmul, **SUM_TOL),
    OpCase("scan", _rnn_scan, scan_example(), "real", ("scan",), _rnn_scan_ref, rtol=1e-4,
           atol=1e-5, grad_prims=("scan",)),
    OpCase("special_values", _special_values, unary(), "special", ("is_nan", "softmax")),
    OpCase("operators", _operators, operators_example(), "real",
           ("add", "multiply", "subtract", "divide", "power", "floor", "matmul", "less",
            "logical_or", "logical_and", "logical_not", "greater_equal", "abs", "negative",
            "slice"), None, rtol=1e-4, atol=1e-4),
]

# cases whose strategies draw many attributes get more examples
RICH = {"conv": 3, "conv_transpose": 3, "max_pool": 2, "average_pool": 2, "getitem": 3,
        "slice_axes": 2, "reshape": 2, "cast": 2, "resize_bilinear": 2, "matmul": 2, "pad": 2}
CASES = [dataclasses.replace(c, examples=RICH[c.name]) if c.name in RICH else c for c in CASES]
CASE_IDS = [c.name for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case names"


# ================================================================== tests
def test_every_primitive_has_a_case():
    covered = {p for case in CASES for p in case.prims + case.grad_prims}
    missing = sorted(set(PRIMITIVES) - covered)
    assert not missing, f"primitives without an OpCase in {__file__}: {missing}"
    unknown = sorted(covered - set(PRIMITIVES))
    assert not unknown, f"OpCases name unknown primitives: {unknown}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_op(case: OpCase):
    @settings(max_examples=max(1, int(MAX_EXAMPLES * case.examples)), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(example=case.shapes, seed=st.integers(0, 2**32 - 1))
    def run(example, seed):
        inputs = make_inputs(case, example, seed)
        fn = functools.partial(case.fn, **example.params)
        ref = None if case.ref is None else functools.partial(case.ref, **example.params)
        with np.errstate(all="ignore"):  # (NaN/inf inputs of the "special" domain)
            result = check_op(fn, inputs, ref=ref, rtol=case.rtol, atol=case.atol,
                              compare_values=case.compare_values, expect_prims=case.prims,
                              grad=bool(case.grad_prims) and {"expect_prims": case.grad_prims})
        if not case.compare_values:  # random: values in range, the seed reproduces on each path
            for y in result.interpreter + result.onnx + result.eager:
                assert y.shape == inputs[0].value.shape and y.dtype == np.float32
                assert np.all(np.isfinite(y))
                if case.name == "uniform_like":
                    assert np.all((y >= 0) & (y < 1))
    run()


def test_random_ops_statistics():
    """A fixed seed reproduces the interpreter's draw; ONNX Runtime's draws look uniform/normal."""
    x = np.zeros((3, 50), np.float32)
    r1 = check_op(lambda a: ops.uniform_like(a, seed=7), [x], compare_values=False)
    r2 = check_op(lambda a: ops.uniform_like(a, seed=7), [x], compare_values=False)
    np.testing.assert_array_equal(r1.interpreter[0], r2.interpreter[0])
    for y in (r1.onnx[0], r1.interpreter[0]):
        assert 0.3 < y.mean() < 0.7 and 0.2 < y.std() < 0.4
    r = check_op(lambda a: ops.normal_like(a, seed=1), [np.zeros((4, 250), np.float32)],
                 compare_values=False)
    for y in (r.onnx[0], r.interpreter[0]):
        assert abs(y.mean()) < 0.2 and 0.8 < y.std() < 1.2


@pytest.mark.parametrize("index", [(0, slice(None), [1, 0]), (slice(None), [0, 1], [1, 0]),
                                   (slice(None), [0], None, 0)])
def test_getitem_rejects_indices_numpy_would_reorder(index):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with pytest.raises(NotImplementedError, match="getitem"):
        ops.getitem(x, index)


def test_slice_limits():
    """Stepping back from a start below -n: empty in numpy. Exact where the size is known;
    on an unknown axis ONNX clamps the start to 0 (a known difference, kept out of the table)."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    check_op(lambda a: a[:, -7::-1], [x], ref=lambda a: a[:, -7::-1])
    check_op(lambda a: a[:, -7:-9:-1], [x], ref=lambda a: a[:, -7:-9:-1])
    check_op(lambda a: a[:, 9:-9:-2], [x], ref=lambda a: a[:, 9:-9:-2])
    r = check_op(lambda a: a[-5::-1], [x], onnx_=False, ref=lambda a: a[-5::-1])
    assert r.interpreter[0].shape == (0, 4)


@pytest.mark.parametrize("op", ["conv", "max_pool", "average_pool"])
def test_same_padding_of_unknown_sizes_needing_runtime_pads(op):
    """Window 3, stride 2 pads at run time (ONNX SAME_UPPER); a window smaller than its stride
    on another unknown axis cannot be: a clear error at compile time, not a wrong answer."""
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 2)).astype(np.float32)
    w = np.ones((3, 3, 2, 2), np.float32)
    fns = {"conv": lambda k, s: (lambda a: ops.conv(a, w[:k[0], :k[1]], strides=s, padding="same")),
           "max_pool": lambda k, s: (lambda a: ops.max_pool(a, k, s, padding="same")),
           "average_pool": lambda k, s: (lambda a: ops.average_pool(a, k, s, padding="same"))}
    dynamic = In(x, (0, 1, 2))
    r = check_op(fns[op]((3, 3), (2, 2)), [dynamic], ref=fns[op]((3, 3), (2, 2)))
    assert any(a.name == "auto_pad" for n in r.model.graph.node for a in n.attribute)
    with pytest.raises(ValueError, match="SAME padding"):
        check_op(fns[op]((3, 1), (2, 2)), [dynamic])
    check_op(fns[op]((3, 1), (2, 2)), [In(x, (0,))])
    check_op(fns[op]((1, 2), (2, 3)), [dynamic])  # windows of 1 or 2: explicit pads


@pytest.mark.parametrize("name,fn,inputs", [
    ("tanh", ops.tanh, [(3, 4)]),
    ("matmul", ops.matmul, [(2, 3), In(np.ones((3, 2)), ())]),
    ("softmax_axis0", lambda x: ops.softmax(x, axis=0), [(4, 3)]),
    ("mean_keepdims", lambda x: ops.mean(x, axis=(0, 2), keepdims=True), [(2, 3, 2)]),
    ("getitem", lambda x: x[:, ::-2, None, 1], [(2, 5, 3)]),
    ("take_table", lambda w, i: ops.take(w, i, axis=0), [In(np.ones((5, 3)), ()), "idx"]),
    ("two_outputs", lambda x: [ops.exp(x), ops.argmax(x), ops.square(x)], [(3, 2)]),
    ("reverse_unknown_axis", lambda x: ops.square(x[::-1, ::-1]), [In(np.ones((3, 4)), (0, 1))]),
])
def test_check_op_with_gradients(name, fn, inputs):
    """helpers.check_op(grad=True): vjp rules on graphs with a dynamic batch dimension."""
    rng = np.random.default_rng(0)
    arrays = []
    for spec in inputs:
        if isinstance(spec, In):
            arrays.append(In(rng.uniform(-1, 1, spec.value.shape).astype(np.float32), spec.dynamic))
        elif spec == "idx":
            arrays.append(rng.integers(-5, 5, (4, 2)))
        else:
            arrays.append(rng.uniform(-1, 1, spec).astype(np.float32))
    check_op(fn, arrays, grad=True)


def test_check_grad_catches_a_wrong_rule():
    from graphkeras.compiler.ops.elementwise import UNARY_PRIMITIVES
    prim = UNARY_PRIMITIVES["sin"]
    rule = prim.vjp
    try:
        prim.vjp = lambda g, y, x: [ops.multiply(g, ops.sin(x))]  # should be cos
        with pytest.raises(AssertionError, match="finite differences"):
            check_op(ops.sin, [np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)], grad=True)
    finally:
        prim.vjp = rule


def test_getitem_with_2d_index_then_int():
    """A 2-D index array followed by an int index: the int squeezes the right axis."""
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    idx = np.array([[0, 2], [1, 1]])
    check_op(lambda a: ops.getitem(a, (slice(None), idx, 1)), [x],
             ref=lambda a: a[:, idx, 1], expect_prims=("gather", "squeeze"))
