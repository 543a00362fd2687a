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


# ---------------------------------------------------------- gradient helpers
_INT64_MAX = 2**63 - 1


def _known_spatial(x, op):
    """``x``'s spatial sizes, which the gradient of ``op`` needs at trace time."""
    spatial = tuple(x.shape[1:-1])
    if any(n is None for n in spatial):
        raise ValueError(f"The gradient of '{op}' needs known spatial input sizes; received "
                         f"input shape {tuple(x.shape)}. Give the Input a full shape to train "
                         "through it.")
    return spatial


def _remainders(spatial, out, kernel, strides, dilations, pads):
    """Rows of the padded input that no window reaches, at the end of each axis."""
    return [n + lo + hi - ((o - 1) * s + (k - 1) * d + 1)
            for n, o, k, s, d, (lo, hi) in zip(spatial, out, kernel, strides, dilations, pads)]


def _windows(xp, kernel, strides, dilations, out):
    """``(N, *out, C, *kernel)`` view of the windows of the padded ``xp``."""
    nd = xp.ndim - 2
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    win = sliding_window_view(xp, eff, axis=tuple(range(1, nd + 1)))
    index = ((slice(None),) + tuple(slice(None, o * s if o else 0, s) for o, s in zip(out, strides))
             + (slice(None),) + tuple(slice(None, None, d) for d in dilations))
    return win[index]


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


@conv_p.def_vjp
def _(g, y, x, w, *bias, strides, dilations, padding, groups):
    """Forward: y[o] = sum_k pad(x)[o*s + k*d] @ w[k] (+ b), per group.
    Backward: dx = the transposed convolution of g by w back onto x's grid
    (conv_input_grad); dw = the correlation of x with g (conv_kernel_grad);
    db = g summed over batch and space."""
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    nd = len(x.shape) - 2
    spatial = _known_spatial(x, "conv")
    kernel = tuple(w.shape[:nd])
    pads = tuple(_explicit_pads(spatial, kernel, strides, dilations, padding))
    attrs = dict(strides=strides, dilations=dilations, pads=pads, groups=groups)
    dx = conv_input_grad_p.bind(g, w, input_spatial=spatial, **attrs)
    dw = conv_kernel_grad_p.bind(x, g, kernel=kernel, **attrs)
    return [dx, dw] + [reduce_sum(g, axis=tuple(range(nd + 1)))] * len(bias)


# ------------------------------------------------------ convolution gradients
# conv_input_grad(g, w): the adjoint of conv in its input, g (N, *out, Cout) -> (N, *input_spatial,
# Cin): every output row scatters g @ w[k]^T back onto the rows its window read, on the padded
# grid, which is then cropped by the forward pads. ONNX: ConvTranspose (same group, pads) whose
# output_padding adds the trailing rows no window reached; with unit strides, a Conv by the
# flipped kernel instead.
def _conv_input_grad_rule(g, w, input_spatial, strides, dilations, pads, groups):
    nd = len(g.shape) - 2
    out = tuple(_window_out(n, k, s, d, p) for n, k, s, d, p in
                zip(input_spatial, w.shape[:nd], strides, dilations, pads))
    if any(o != n for o, n in zip(out, g.shape[1:-1]) if n is not None):
        raise ValueError(f"conv_input_grad: a gradient of shape {g.shape} does not match the "
                         f"output {out} of a convolution over {tuple(input_spatial)}.")
    return AVal((g.shape[0],) + tuple(input_spatial) + (w.shape[nd] * groups,), same_dtype(g, w))


conv_input_grad_p = Primitive("conv_input_grad", _conv_input_grad_rule)


@conv_input_grad_p.def_impl
def _(g, w, input_spatial, strides, dilations, pads, groups):
    nd = g.ndim - 2
    kernel, out = w.shape[:nd], g.shape[1:-1]
    cin_g, cout = w.shape[nd], w.shape[-1]
    gg = g.reshape(g.shape[:-1] + (groups, cout // groups))
    wg = w.reshape(tuple(kernel) + (cin_g, groups, cout // groups))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(input_spatial, pads))
    full = np.zeros((g.shape[0],) + padded + (groups * cin_g,), dtype=np.float64)
    for offset in np.ndindex(*kernel):
        index = (slice(None),) + tuple(slice(k * d, k * d + (o - 1) * s + 1, s)
                                       for k, d, o, s in zip(offset, dilations, out, strides))
        part = np.einsum("...gq,cgq->...gc", gg, wg[offset])
        full[index] += part.reshape(part.shape[:-2] + (-1,))
    crop = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(input_spatial, pads))
    return full[crop].astype(np.result_type(g, w))


@conv_input_grad_p.def_onnx
def _(b, node, g, w):
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    kernel, out = node.inputs[1].shape[:nd], node.inputs[0].shape[1:-1]
    extra = _remainders(a["input_spatial"], out, kernel, a["strides"], a["dilations"], a["pads"])
    gc = _to_channels_first(b, g, nd)
    effs = [(k - 1) * d + 1 for k, d in zip(kernel, a["dilations"])]
    if all(s == 1 for s in a["strides"]) and all(max(lo, hi) < e for (lo, hi), e in
                                                  zip(a["pads"], effs)):
        # unit strides: a plain Conv of g with the flipped, transposed kernel (ONNX Runtime's
        # Conv runs about twice as fast as its ConvTranspose)
        groups, cin_g, cout = a["groups"], node.inputs[1].shape[nd], node.inputs[1].shape[-1]
        wf = b.op("Reshape", [w, b.ints(list(kernel) + [cin_g, groups, cout // groups])])
        wf = b.transpose(wf, [nd + 1, nd, nd + 2] + list(range(nd)))  # g, I/g, O/g, *k
        wf = b.op("Reshape", [wf, b.ints([groups * cin_g, cout // groups] + list(kernel))])
        wf = b.op("Slice", [wf, b.ints([-1] * nd), b.ints([-_INT64_MAX] * nd),
                            b.ints(range(2, nd + 2)), b.ints([-1] * nd)])
        x = b.op("Conv", [gc, wf], kernel_shape=list(kernel), dilations=list(a["dilations"]),
                 group=groups, pads=[e - 1 - lo for (lo, _), e in zip(a["pads"], effs)]
                 + [e - 1 - hi for (_, hi), e in zip(a["pads"], effs)])
        return _to_channels_last(b, x, nd)
    wc = b.transpose(w, [nd + 1, nd] + list(range(nd)))  # *k, I/g, O -> O, I/g, *k
    x = b.op("ConvTranspose", [gc, wc], kernel_shape=list(kernel), strides=list(a["strides"]),
             dilations=list(a["dilations"]), group=a["groups"],
             pads=[lo for lo, _ in a["pads"]] + [hi for _, hi in a["pads"]],
             output_padding=extra if any(extra) else None)
    return _to_channels_last(b, x, nd)


@conv_input_grad_p.def_vjp
def _(z, dx, g, w, input_spatial, strides, dilations, pads, groups):
    """Forward: dx = conv^T(g, w). Backward: dg = conv(z, w); dw = conv_kernel_grad(z, g)."""
    nd = len(g.shape) - 2
    attrs = dict(strides=strides, dilations=dilations, groups=groups)
    return [conv_p.bind(z, w, padding=pads, **attrs),
            conv_kernel_grad_p.bind(z, g, kernel=tuple(w.shape[:nd]), pads=pads, **attrs)]


# conv_kernel_grad(x, g): the gradient of conv in its kernel, sum over batch and output rows of
# window(x) (x) g -> (*kernel, Cin/groups, Cout). ONNX: a Conv with batch and channels swapped
# (x^T, as (Cin/g, g*N, *spatial) with group=g, correlated with g^T (Cout, N, *out) as the
# weight; the forward strides become dilations and the dilations strides), cropped to the kernel;
# with 8 or more input channels (and one group), one GEMM per kernel offset instead.
def _conv_kernel_grad_rule(x, g, kernel, strides, dilations, pads, groups):
    cin = x.shape[-1]
    return AVal(tuple(kernel) + (None if cin is None else cin // groups, g.shape[-1]),
                same_dtype(x, g))


conv_kernel_grad_p = Primitive("conv_kernel_grad", _conv_kernel_grad_rule)


@conv_kernel_grad_p.def_impl
def _(x, g, kernel, strides, dilations, pads, groups):
    nd = x.ndim - 2
    out = g.shape[1:-1]
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    win = _windows(xp, kernel, strides, dilations, out)  # N, *out, Cin, *kernel
    win = win.reshape(win.shape[:nd + 1] + (groups, x.shape[-1] // groups) + tuple(kernel))
    gg = g.reshape(g.shape[:-1] + (groups, g.shape[-1] // groups))
    o, k = "hijl"[:nd], "rstu"[:nd]
    dw = np.einsum(f"N{o}gc{k},N{o}gq->{k}cgq", win, gg, optimize=True)
    return dw.reshape(tuple(kernel) + (x.shape[-1] // groups, g.shape[-1])).astype(
        np.result_type(x, g))


@conv_kernel_grad_p.def_onnx
def _(b, node, x, g):
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    spatial, out = node.inputs[0].shape[1:-1], node.inputs[1].shape[1:-1]
    kernel, groups = list(a["kernel"]), a["groups"]
    if any(n is None for n in spatial):
        raise ValueError("conv_kernel_grad needs known spatial input sizes to be compiled; "
                         f"received input shape {node.inputs[0].shape}.")
    # drop trailing padding no window reaches, so the correlation is at least as short
    extra = _remainders(spatial, out, kernel, a["strides"], a["dilations"], a["pads"])
    pads = [(lo, hi - min(hi, r)) for (lo, hi), r in zip(a["pads"], extra)]
    cin = node.inputs[0].shape[-1]
    cout = node.inputs[1].shape[-1]
    if groups == 1 and cin is not None and cin >= 8 and cout is not None:
        # many input channels: one (N*out, Cin)^T @ (N*out, Cout) product per kernel offset on
        # strided slices of the padded x (ONNX Runtime runs these GEMMs faster than the
        # swapped Conv, whose kernel is as large as the output; with few channels it is slower)
        xp = x
        if any(lo or hi for lo, hi in pads):
            xp = b.op("Pad", [x, b.ints([0] + [lo for lo, _ in pads] + [0, 0]
                                        + [hi for _, hi in pads] + [0])])
        g2 = b.op("Reshape", [g, b.ints([-1, cout])])
        parts = []
        for offset in np.ndindex(*kernel):
            starts = [k * d for k, d in zip(offset, a["dilations"])]
            ends = [st + (o - 1) * s + 1 for st, o, s in zip(starts, out, a["strides"])]
            xs = b.op("Slice", [xp, b.ints(starts), b.ints(ends), b.ints(range(1, nd + 1)),
                                b.ints(a["strides"])])
            xs = b.op("Reshape", [xs, b.ints([-1, cin])])
            parts.append(b.unsqueeze(b.op("Gemm", [xs, g2], transA=1), [0]))
        dw = parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=0)
        return b.op("Reshape", [dw, b.ints(kernel + [cin, cout])])
    if groups == 1:
        xt = b.transpose(x, [nd + 1, 0] + list(range(1, nd + 1)))  # Cin, N, *spatial
    else:
        cin_g = cin // groups
        xt = b.op("Reshape", [x, b.ints([0] + list(spatial) + [groups, cin_g])])
        xt = b.transpose(xt, [nd + 2, nd + 1, 0] + list(range(1, nd + 1)))  # Cin/g, g, N, *sp
        xt = b.op("Reshape", [xt, b.ints([cin_g, -1] + list(spatial))])
    gt = b.transpose(g, [nd + 1, 0] + list(range(1, nd + 1)))  # Cout, N, *out
    dw = b.op("Conv", [xt, gt], strides=list(a["dilations"]), dilations=list(a["strides"]),
              group=groups, pads=[lo for lo, _ in pads] + [hi for _, hi in pads])
    got = [(n + lo + hi - (o - 1) * s - 1) // d + 1 for n, o, s, d, (lo, hi) in
           zip(spatial, out, a["strides"], a["dilations"], pads)]
    if got != kernel:
        dw = b.op("Slice", [dw, b.ints([0] * nd), b.ints(kernel), b.ints(range(2, nd + 2))])
    return b.transpose(dw, list(range(2, nd + 2)) + [0, 1])  # *kernel, Cin/g, Cout


@conv_kernel_grad_p.def_vjp
def _(z, dw, x, g, kernel, strides, dilations, pads, groups):
    """Forward: dw = corr(x, g). Backward: dx = conv_input_grad(g, z); dg = conv(x, z)."""
    attrs = dict(strides=strides, dilations=dilations, groups=groups)
    return [conv_input_grad_p.bind(g, z, input_spatial=_known_spatial(x, "conv_kernel_grad"),
                                   pads=pads, **attrs),
            conv_p.bind(x, z, padding=pads, **attrs)]


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


@conv_transpose_p.def_vjp
def _(g, y, x, w, *bias, strides, dilations, padding, output_padding):
    """Forward: full[o*s + k*d] += x[o] @ w[k]^T, then y = full cropped from `lo` (zeros past
    the scatter). It is the adjoint of a convolution by the same kernel, so
    Backward: dx = conv(g, w) with g padded back onto the full grid (lo at the start, the
    cropped tail at the end); dw = conv_kernel_grad(g, x) on that grid; db = sum of g."""
    from graphkeras.compiler.ops.reduce import sum as reduce_sum
    from graphkeras.compiler.ops.shape import slice_p
    nd = len(x.shape) - 2
    spatial = _known_spatial(x, "conv_transpose")
    kernel = tuple(w.shape[:nd])
    pads = []
    for n, k, s, d, p in zip(spatial, kernel, strides, dilations,
                             output_padding or (None,) * nd):
        out, scatter, lo = _conv_transpose_geometry(n, k, s, d, padding, p)
        pads.append((lo, max(scatter - lo - out, 0)))
    pads = tuple(pads)
    dx = conv_p.bind(g, w, strides=strides, dilations=dilations, padding=pads, groups=1)
    if tuple(dx.shape[1:-1]) != spatial:  # output padding of a stride or more: extra rows
        dx = slice_p.bind(dx, starts=(0,) * nd, ends=spatial, axes=tuple(range(1, nd + 1)),
                          steps=(1,) * nd)
    dw = conv_kernel_grad_p.bind(g, x, kernel=kernel, strides=strides, dilations=dilations,
                                 pads=pads, groups=1)
    return [dx, dw] + [reduce_sum(g, axis=tuple(range(nd + 1)))] * len(bias)


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
    maximum in row-major order with ArgMax along one window axis at a time, and put g
    there. No transposes and no scatter: a few dense passes, far faster on ONNX
    Runtime than MaxPool indices + ScatterElements."""
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
    last = window_axes[-1]
    arg_last = b.op("ArgMax", [xt], axis=last, keepdims=1, select_last_index=0)
    if nd == 1:
        picks = [arg_last]
    else:  # the first row holding the tile's maximum, then that row's first maximum
        first = window_axes[0]
        row_max = b.reduce("ReduceMax", xt, [last], keepdims=True)
        arg_first = b.op("ArgMax", [row_max], axis=first, keepdims=1, select_last_index=0)
        picks = [arg_first, b.op("GatherElements", [arg_last, arg_first], axis=first)]
    hit = None
    for axis, pick, p in zip(window_axes, picks, pool):
        iota_shape = [1] * (2 + 2 * nd)
        iota_shape[axis] = p
        iota = b.const(np.arange(p, dtype=np.int64).reshape(iota_shape))
        same = b.op("Equal", [pick, iota])
        hit = same if hit is None else b.op("And", [hit, same])
    g_shape = []
    for o in out:
        g_shape += [o, 1]
    gt = b.op("Reshape", [g, b.ints([-1] + g_shape + [c])])
    zero = b.const(np.zeros((), node.inputs[0].dtype))
    dx = b.op("Where", [hit, gt, zero])
    dx = b.op("Reshape", [dx, b.ints([-1] + used + [c])])
    if used != list(shape[1:-1]):
        tail = [n - u for n, u in zip(shape[1:-1], used)]
        dx = b.op("Pad", [dx, b.ints([0] * (nd + 2) + [0] + tail + [0])])
    return dx


@max_pool_grad_p.def_onnx
def _(b, node, g, x):
    a = node.attrs
    nd = len(node.inputs[1].shape) - 2
    spatial = node.inputs[1].shape[1:-1]
    if a["padding"] == "valid" and list(a["strides"]) == list(a["pool"]) and nd <= 2 and \
            all(n is not None for n in node.inputs[1].shape[1:]):
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
