"""Convolution primitives: conv, its gradients (conv_input_grad, conv_kernel_grad)
and the transposed convolution.

Tensors are channels-last, as in Keras (``NHWC``; kernels ``HWIO``). The ONNX
lowerings wrap ONNX's channels-first operators in transposes; ONNX Runtime's
transpose optimizer cancels the pairs that meet between consecutive layers.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import same_dtype
from graphkeras.compiler.ops._window import (
    _axis_paddings, _explicit_pads, _known_spatial, _onnx_pads, _padding,
    _relax_geometry, _relax_padded, _remainders, _to_channels_first, _to_channels_last, _tuple,
    _window_out, _windows)


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
    out = tuple(_window_out(n, k, s, d, p)
                for n, k, s, d, p in zip(x.shape[1:-1], kernel, strides, dilations, pads))
    win = _windows(xp, kernel, strides, dilations, out)  # N, *out, C, *kernel
    n = win.shape[0]
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


@conv_p.def_relax
def _(bb, node, x, w, *bias):
    """y[n, o, co] = sum over k, ci of pad(x)[n, o*s + k*d, group(co)*cin_g + ci] * w[k, ci, co],
    one TE reduction (padding a stage before it)."""
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    groups = a["groups"]

    def compute(xt, wt):
        te = bb.te
        ws = bb.shape(wt)
        kernel, cin_g, cout = ws[:nd], ws[nd], ws[-1]
        pads, out = _relax_geometry(bb, bb.shape(xt)[1:-1], kernel, a["strides"], a["dilations"],
                                    a["padding"])
        xp = _relax_padded(bb, xt, pads, bb.tir.const(0, xt.dtype))
        red = [te.reduce_axis((0, bb.prim(k)), name=f"k{i}") for i, k in enumerate(kernel)]
        red.append(te.reduce_axis((0, bb.prim(cin_g)), name="ci"))

        def element(n, *rest):
            ci, co = red[nd], rest[nd]
            pos = [o * s + k * d for o, k, s, d in zip(rest[:nd], red[:nd], a["strides"],
                                                       a["dilations"])]
            c = ci if groups == 1 else (co // (cout // groups)) * cin_g + ci
            return te.sum(xp[(n, *pos, c)] * wt[(*red[:nd], ci, co)], axis=red)
        return te.compute([xt.shape[0]] + [bb.prim(o) for o in out] + [bb.prim(cout)], element,
                          name="conv")
    y = bb.emit_te(compute, x, w, name="conv")
    return bb.op.add(y, bias[0]) if bias else y


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


def conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1):
    """N-d convolution, channels last; ``kernel`` is ``(*window, in/groups, out)``."""
    nd = len(x.shape) - 2
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return conv_p.bind(*args, strides=_tuple(strides, nd), dilations=_tuple(dilation_rate, nd),
                       padding=_padding(padding), groups=int(groups))


# ------------------------------------------------------ convolution gradients
# conv_input_grad(g, w): the adjoint of conv in its input, g (N, *out, Cout) -> (N, *input_spatial,
# Cin): every output row scatters g @ w[k]^T back onto the rows its window read, on the padded
# grid, which is then cropped by the forward pads. ONNX: ConvTranspose (same group, pads) whose
# output_padding adds the trailing rows no window reached.
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
    # ONNX Runtime's ConvTranspose (one GEMM per image, then col2im) runs faster than a Conv
    # of g with the flipped kernel at unit strides: 1.3-7x at the shapes measured, one thread
    wc = b.transpose(w, [nd + 1, nd] + list(range(nd)))  # *k, I/g, O -> O, I/g, *k
    x = b.op("ConvTranspose", [gc, wc], kernel_shape=list(kernel), strides=list(a["strides"]),
             dilations=list(a["dilations"]), group=a["groups"],
             pads=[lo for lo, _ in a["pads"]] + [hi for _, hi in a["pads"]],
             output_padding=extra if any(extra) else None)
    return _to_channels_last(b, x, nd)


def _relax_scatter_conv(bb, g, w, out_spatial, lows, strides, dilations, groups, name):
    """The transposed convolution (conv_input_grad, conv_transpose): each g[o] @ w[k]^T added
    at o*s + k*d of a grid read from ``lows`` on, ``out_spatial`` long. As TE: g dilated by
    the strides (zeros between rows), then a stride-1 correlation with the flipped kernel:
    dx[i, c] = sum over k, q of dilated(g)[i + lo + eff - 1 - k*d, q] * w[k, c, q]."""
    nd = len(out_spatial)

    def compute(gt, wt):
        te, tir = bb.te, bb.tir
        ws = bb.shape(wt)
        kernel, c_g, q_total = ws[:nd], ws[nd], ws[-1]
        q_g = q_total // groups
        effs = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]

        def dilated(b, *rest):
            conds, src = [], []
            for j, e, s, o in zip(rest[:-1], effs, strides, gt.shape[1:-1]):
                p = j - (e - 1)
                conds += [p >= 0, tir.floordiv(p, s) < o]
                if s > 1:
                    conds.append(tir.floormod(p, s) == 0)
                src.append(tir.floordiv(p, s) if s > 1 else p)
            return tir.if_then_else(tir.all(*conds), gt[(b, *src, rest[-1])],
                                    tir.const(0, gt.dtype))
        gz = te.compute([gt.shape[0]] + [bb.prim(n) + lo + e - 1 for n, lo, e in
                                         zip(out_spatial, lows, effs)] + [gt.shape[-1]],
                        dilated, name="dilate")
        red = [te.reduce_axis((0, bb.prim(k)), name=f"k{i}") for i, k in enumerate(kernel)]
        red.append(te.reduce_axis((0, bb.prim(q_g)), name="q"))

        def element(b, *rest):
            c, q = rest[nd], red[nd]
            pos = [i + lo + e - 1 - k * d for i, lo, e, k, d in
                   zip(rest[:nd], lows, effs, red[:nd], dilations)]
            qq = q if groups == 1 else (c // c_g) * q_g + q
            cc = c if groups == 1 else tir.floormod(c, c_g)
            return te.sum(gz[(b, *pos, qq)] * wt[(*red[:nd], cc, qq)], axis=red)
        return te.compute([gt.shape[0]] + [bb.prim(n) for n in out_spatial]
                          + [bb.prim(groups * c_g)], element, name=name)
    return bb.emit_te(compute, g, w, name=name)


@conv_input_grad_p.def_relax
def _(bb, node, g, w):
    a = node.attrs
    return _relax_scatter_conv(bb, g, w, a["input_spatial"], [lo for lo, _ in a["pads"]],
                               a["strides"], a["dilations"], a["groups"], "conv_input_grad")


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
_STACK_LIMIT = 1 << 18  # floats per example of the stacked slices (1 MiB)


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
    stacked = int(np.prod(kernel)) * int(np.prod(out)) * (cin or 0)  # floats per example
    if groups == 1 and cin is not None and cout is not None and \
            (cin >= 8 or stacked <= _STACK_LIMIT):
        # one (N*out, Cin)^T @ (N*out, Cout) product per kernel offset on strided slices of
        # the padded x (ONNX Runtime runs these GEMMs faster than the swapped Conv, whose
        # kernel is as large as the output). With few input channels such products are thin,
        # so the slices are stacked (an im2col, kernel offsets first) into one product, where
        # that copy stays small.
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
            if cin >= 8:
                xs = b.op("Reshape", [xs, b.ints([-1, cin])])
                parts.append(b.unsqueeze(b.op("Gemm", [xs, g2], transA=1), [0]))
            else:
                parts.append(b.op("Reshape", [xs, b.ints([1, -1, cin])]))
        dw = parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=0)
        if cin < 8:  # (K, N*out, Cin) -> (K, Cin, N*out) @ (N*out, Cout)
            if cin == 1:
                dw = b.op("Gemm", [b.op("Reshape", [dw, b.ints([len(parts), -1])]), g2])
            else:
                dw = b.op("MatMul", [b.transpose(dw, [0, 2, 1]), g2])
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


@conv_kernel_grad_p.def_relax
def _(bb, node, x, g):
    """dw[k, ci, co] = sum over n, o of pad(x)[n, o*s + k*d, group(co)*cin_g + ci] * g[n, o, co]."""
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    groups, kernel = a["groups"], a["kernel"]

    def compute(xt, gt):
        te = bb.te
        cin, cout = bb.shape(xt)[-1], bb.shape(gt)[-1]
        xp = _relax_padded(bb, xt, a["pads"], bb.tir.const(0, xt.dtype))
        red = [te.reduce_axis((0, xt.shape[0]), name="n")]
        red += [te.reduce_axis((0, o), name=f"o{i}") for i, o in enumerate(gt.shape[1:-1])]

        def element(*index):
            ci, co = index[nd], index[nd + 1]
            b = red[0]
            pos = [o * s + k * d for o, k, s, d in zip(red[1:], index[:nd], a["strides"],
                                                       a["dilations"])]
            c = ci if groups == 1 else (co // (cout // groups)) * (cin // groups) + ci
            return te.sum(xp[(b, *pos, c)] * gt[(b, *red[1:], co)], axis=red)
        return te.compute([bb.prim(k) for k in kernel] + [bb.prim(cin // groups), bb.prim(cout)],
                          element, name="conv_kernel_grad")
    return bb.emit_te(compute, x, g, name="conv_kernel_grad")


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


@conv_transpose_p.def_relax
def _(bb, node, x, w, *bias):
    a = node.attrs
    nd = len(node.inputs[0].shape) - 2
    spatial = node.inputs[0].shape[1:-1]
    if any(n is None for n in spatial):
        raise ValueError("Conv*Transpose needs known spatial input sizes to be compiled; "
                         f"received input shape {node.inputs[0].shape}. Give the Input a full shape.")
    geo = [_conv_transpose_geometry(n, k, s, d, a["padding"], p) for n, k, s, d, p in
           zip(spatial, node.inputs[1].shape[:nd], a["strides"], a["dilations"],
               a["output_padding"] or (None,) * nd)]
    y = _relax_scatter_conv(bb, x, w, [o for o, _, _ in geo], [lo for _, _, lo in geo],
                            a["strides"], a["dilations"], 1, "conv_transpose")
    return bb.op.add(y, bias[0]) if bias else y


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


def conv_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                   dilation_rate=1):
    """Transposed convolution, channels last; ``kernel`` is ``(*window, out, in)``."""
    nd = len(x.shape) - 2
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return conv_transpose_p.bind(
        *args, strides=_tuple(strides, nd), dilations=_tuple(dilation_rate, nd),
        padding=_padding(padding), output_padding=None if output_padding is None
        else _tuple(output_padding, nd))
