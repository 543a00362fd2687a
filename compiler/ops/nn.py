"""Neural-network primitives: matmul, convolution, transposed convolution,
pooling, softmax and bilinear resize.

Tensors are channels-last, as in Keras (``NHWC``; kernels ``HWIO``). The ONNX
lowerings wrap ONNX's channels-first operators in transposes; ONNX Runtime's
transpose optimizer cancels the pairs that meet between consecutive layers.
"""
from __future__ import annotations


import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import broadcast_shapes, normalize_axis, same_dtype
from graphkeras.compiler.ops.shape import transpose_p


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


def _swap_last(t):
    rank = len(t.shape)
    return transpose_p.bind(t, perm=tuple(range(rank - 2)) + (rank - 1, rank - 2))


# d(a @ b) = g @ b^T, a^T @ g (batch dims are summed back by autodiff)
matmul_p.def_vjp(lambda g, y, a, b: [matmul_p.bind(g, _swap_last(b)), matmul_p.bind(_swap_last(a), g)])


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


# ---------------------------------------------------------- padding helpers
def same_pads(in_size, kernel, stride, dilation):
    """TensorFlow's SAME padding: the odd pixel goes at the end."""
    eff = (kernel - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + eff - in_size, 0)
    return total // 2, total - total // 2


def _window_out(in_size, kernel, stride, dilation, padding):
    if in_size is None:
        return None
    eff = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-in_size // stride)
    if padding == "valid":
        return max((in_size - eff) // stride + 1, 0)
    lo, hi = padding
    return max((in_size + lo + hi - eff) // stride + 1, 0)


def _axis_paddings(padding, nd):
    """``padding`` for each spatial axis: the mode string, or that axis' (lo, hi)."""
    return [padding] * nd if isinstance(padding, str) else list(padding)


def _explicit_pads(spatial, kernel, strides, dilations, padding):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "same":
        return [same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilations)]
    return [tuple(p) for p in padding]


def _onnx_pads(b, node, spatial, kernel, strides, dilations, padding):
    """ONNX pads/auto_pad attributes for a window op on known or unknown sizes."""
    if padding == "same" and any(n is None for n in spatial):
        # TF's SAME padding of an unknown size is a constant when the stride is 1, and
        # (0, eff - 1) when the window spans 1 or 2 (the extra end padding is never read).
        pads = []
        for n, k, s, d in zip(spatial, kernel, strides, dilations):
            eff = (k - 1) * d + 1
            if n is not None:
                pads.append(same_pads(n, k, s, d))
            elif s == 1 or eff <= 2:
                pads.append(((eff - 1) // 2, eff - 1 - (eff - 1) // 2) if s == 1 else (0, eff - 1))
            else:
                break
        else:
            return {"pads": [lo for lo, _ in pads] + [hi for _, hi in pads]}
        # otherwise ONNX Runtime pads at run time; it rejects dilations, and the negative
        # padding it computes where the window is smaller than the stride
        for n, k, s, d in zip(spatial, kernel, strides, dilations):
            eff = (k - 1) * d + 1
            if d > 1 or (n is None and eff < s) or (n is not None and (-(-n // s) - 1) * s + eff < n):
                raise ValueError(
                    f"SAME padding with window {tuple(kernel)}, strides {tuple(strides)} and "
                    f"dilations {tuple(dilations)} on spatial size {tuple(spatial)} cannot be "
                    "compiled while spatial sizes are unknown. Give the Input a full shape.")
        return {"auto_pad": "SAME_UPPER"}
    pads = _explicit_pads(spatial, kernel, strides, dilations, padding)
    return {"pads": [lo for lo, _ in pads] + [hi for _, hi in pads]}


def _to_channels_first(b, x, nd):
    return b.transpose(x, [0, nd + 1] + list(range(1, nd + 1)))


def _to_channels_last(b, x, nd):
    return b.transpose(x, [0] + list(range(2, nd + 2)) + [1])


# --------------------------------------------------------------------- conv
def _conv_rule(x, w, *bias, strides, dilations, padding, groups):
    nd = len(x.shape) - 2
    kernel = w.shape[:nd]
    cin, cout = x.shape[-1], w.shape[-1]
    if cin is not None and w.shape[nd] * groups != cin:
        raise ValueError(f"conv: input has {cin} channels but the kernel {w.shape} with "
                         f"groups={groups} expects {w.shape[nd] * groups}.")
    spatial = tuple(_window_out(n, k, s, d, p) for n, k, s, d, p in
                    zip(x.shape[1:-1], kernel, strides, dilations, _axis_paddings(padding, nd)))
    return AVal((x.shape[0],) + spatial + (cout,), same_dtype(x, w))


conv_p = Primitive("conv", _conv_rule)


@conv_p.def_impl
def _(x, w, *bias, strides, dilations, padding, groups):
    nd = x.ndim - 2
    kernel = w.shape[:nd]
    pads = _explicit_pads(x.shape[1:-1], kernel, strides, dilations, padding)
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    win = sliding_window_view(xp, eff, axis=tuple(range(1, nd + 1)))  # N, *out, C, *eff
    index = ((slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
             + tuple(slice(None, None, d) for d in dilations))
    win = win[index]
    n, out = win.shape[0], win.shape[1:nd + 1]
    cin_g, cout = w.shape[nd], w.shape[-1]
    win = win.reshape((n,) + out + (groups, cin_g) + tuple(kernel))
    wg = w.reshape(tuple(kernel) + (cin_g, groups, cout // groups))
    o, k = "hijl"[:nd], "rstu"[:nd]  # output and window axes
    y = np.einsum(f"N{o}gc{k},{k}cgq->N{o}gq", win, wg, optimize=True)
    y = y.reshape((n,) + out + (cout,)).astype(x.dtype)
    if bias:
        y = y + bias[0]
    return y


@conv_p.def_onnx
def _(b, node, x, w, *bias):
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    kernel = node.inputs[1].shape[:nd]
    pads = _onnx_pads(b, node, node.inputs[0].shape[1:-1], kernel, a["strides"], a["dilations"],
                      a["padding"])
    xc = _to_channels_first(b, x, nd)
    wc = b.transpose(w, [nd + 1, nd] + list(range(nd)))  # *k, I, O -> O, I, *k
    y = b.op("Conv", [xc, wc] + list(bias), kernel_shape=list(kernel), strides=list(a["strides"]),
             dilations=list(a["dilations"]), group=a["groups"], **pads)
    return _to_channels_last(b, y, nd)


# ------------------------------------------------------ transposed convolution
def deconv_length(n, kernel, stride, dilation, padding, output_padding):
    """Keras' output length of a transposed convolution."""
    if n is None:
        return None
    eff = (kernel - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return n * stride + max(eff - stride, 0)
        return n * stride
    pad = eff // 2 if padding == "same" else 0
    return (n - 1) * stride + eff - 2 * pad + output_padding


def _conv_transpose_geometry(n, kernel, stride, dilation, padding, output_padding):
    """(crop start, extra zeros at the end) that turn the full scatter into Keras' output."""
    out = deconv_length(n, kernel, stride, dilation, padding, output_padding)
    eff = (kernel - 1) * dilation + 1
    scatter = (n - 1) * stride + eff
    lo = 0 if padding == "valid" else max((n - 1) * stride + eff - out, 0) // 2
    return out, scatter, lo


def _conv_transpose_rule(x, w, *bias, strides, dilations, padding, output_padding):
    nd = len(x.shape) - 2
    kernel = w.shape[:nd]
    if x.shape[-1] is not None and w.shape[-1] != x.shape[-1]:
        raise ValueError(f"conv_transpose: input has {x.shape[-1]} channels; kernel {w.shape} "
                         f"expects {w.shape[-1]}.")
    ops = output_padding or (None,) * nd
    spatial = tuple(deconv_length(n, k, s, d, padding, p) for n, k, s, d, p in
                    zip(x.shape[1:-1], kernel, strides, dilations, ops))
    return AVal((x.shape[0],) + spatial + (w.shape[nd],), same_dtype(x, w))


conv_transpose_p = Primitive("conv_transpose", _conv_transpose_rule)


@conv_transpose_p.def_impl
def _(x, w, *bias, strides, dilations, padding, output_padding):
    nd = x.ndim - 2
    kernel = w.shape[:nd]
    ops = output_padding or (None,) * nd
    geo = [_conv_transpose_geometry(n, k, s, d, padding, p) for n, k, s, d, p in
           zip(x.shape[1:-1], kernel, strides, dilations, ops)]
    full = np.zeros((x.shape[0],) + tuple(max(s, lo + o) for o, s, lo in geo) + (w.shape[nd],),
                    dtype=np.float64)
    for offset in np.ndindex(*kernel):
        index = (slice(None),) + tuple(
            slice(k * d, k * d + (n - 1) * s + 1, s)
            for k, d, n, s in zip(offset, dilations, x.shape[1:-1], strides))
        full[index] += x @ w[offset].T
    crop = (slice(None),) + tuple(slice(lo, lo + o) for o, _, lo in geo)
    y = full[crop].astype(x.dtype)
    if bias:
        y = y + bias[0]
    return y


@conv_transpose_p.def_onnx
def _(b, node, x, w, *bias):
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    kernel = node.inputs[1].shape[:nd]
    spatial = node.inputs[0].shape[1:-1]
    if any(n is None for n in spatial):
        raise ValueError("Conv*Transpose needs known spatial input sizes to be compiled; "
                         f"received input shape {node.inputs[0].shape}. Give the Input a full shape.")
    ops = a["output_padding"] or (None,) * nd
    lo_pads, hi_pads, extra = [], [], []
    for n, k, s, d, p in zip(spatial, kernel, a["strides"], a["dilations"], ops):
        out, scatter, lo = _conv_transpose_geometry(n, k, s, d, padding=a["padding"], output_padding=p)
        more = lo + out - scatter
        lo_pads.append(lo)
        hi_pads.append(max(-more, 0))
        extra.append(max(more, 0))
    xc = _to_channels_first(b, x, nd)
    wc = b.transpose(w, [nd + 1, nd] + list(range(nd)))  # *k, O, I -> I, O, *k
    y = b.op("ConvTranspose", [xc, wc] + list(bias), kernel_shape=list(kernel),
             strides=list(a["strides"]), dilations=list(a["dilations"]),
             pads=lo_pads + hi_pads, output_padding=extra if any(extra) else None)
    return _to_channels_last(b, y, nd)


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
        y = b.op(op_type, [_to_channels_first(b, x, nd)], kernel_shape=list(a["pool"]),
                 strides=list(a["strides"]), **pads)
        return _to_channels_last(b, y, nd)
    return lower


max_pool_p.def_onnx(_pool_onnx("MaxPool"))
avg_pool_p.def_onnx(_pool_onnx("AveragePool"))  # count_include_pad=0, as TensorFlow


# ------------------------------------------------------------------ softmax
softmax_p = Primitive("softmax", lambda x, axis: AVal(x.shape, x.dtype))


@softmax_p.def_impl
def _(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


softmax_p.def_onnx(lambda b, node, x: b.op("Softmax", [x], axis=node.attrs["axis"]))


@softmax_p.def_vjp
def _(g, y, x, axis):
    from graphkeras.compiler.ops.elementwise import multiply, subtract
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    return [multiply(y, subtract(g, reduce_sum(multiply(g, y), axis=axis, keepdims=True)))]

log_softmax_p = Primitive("log_softmax", lambda x, axis: AVal(x.shape, x.dtype))


@log_softmax_p.def_impl
def _(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=axis, keepdims=True))).astype(x.dtype)


log_softmax_p.def_onnx(lambda b, node, x: b.op("LogSoftmax", [x], axis=node.attrs["axis"]))


@log_softmax_p.def_vjp
def _(g, y, x, axis):
    from graphkeras.compiler.ops.elementwise import exp, multiply, subtract
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    return [subtract(g, multiply(exp(y), reduce_sum(g, axis=axis, keepdims=True)))]


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


# ------------------------------------------------------- public functions
def _tuple(v, nd):
    return (int(v),) * nd if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v)


def _padding(padding):
    if isinstance(padding, str):
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'; received {padding!r}.")
        return padding
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """N-d convolution, channels last; ``kernel`` is ``(*window, in/groups, out)``."""
    nd = len(x.shape) - 2
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return conv_p.bind(*args, strides=_tuple(strides, nd), dilations=_tuple(dilation_rate, nd),
                       padding=_padding(padding), groups=int(groups))


def conv_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                   dilation_rate=1):
    """Transposed convolution, channels last; ``kernel`` is ``(*window, out, in)``."""
    nd = len(x.shape) - 2
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return conv_transpose_p.bind(
        *args, strides=_tuple(strides, nd), dilations=_tuple(dilation_rate, nd),
        padding=_padding(padding), output_padding=None if output_padding is None
        else _tuple(output_padding, nd))


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


def softmax(x, axis=-1):
    return softmax_p.bind(x, axis=normalize_axis(axis, len(x.shape)))


def log_softmax(x, axis=-1):
    return log_softmax_p.bind(x, axis=normalize_axis(axis, len(x.shape)))


def resize_bilinear(x, size):
    return resize_bilinear_p.bind(x, size=tuple(int(s) for s in size))
