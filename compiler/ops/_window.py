"""Window geometry shared by the convolution and pooling primitives: TensorFlow's
padding rules, output lengths, ONNX pads, channels-first/last transposes for the
lowerings, and the argument normalisers of the public window functions.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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


# ---------------------------------------------------------- argument normalisers
def _tuple(v, nd):
    return (int(v),) * nd if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v)


def _padding(padding):
    if isinstance(padding, str):
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'; received {padding!r}.")
        return padding
    return tuple((int(lo), int(hi)) for lo, hi in padding)


# ---------------------------------------------------------- TVM Relax helpers
def _is_zero(v):
    return isinstance(v, (int, np.integer)) and v == 0


def _relax_geometry(bb, spatial, kernel, strides, dilations, padding):
    """TensorFlow's (lo, hi) padding and the output length of each spatial axis, for
    known (ints) or symbolic (TIR) sizes."""
    tir = bb.tir
    pads, outs = [], []
    for i, (n, k, s, d) in enumerate(zip(spatial, kernel, strides, dilations)):
        eff = (k - 1) * d + 1
        p = padding if isinstance(padding, str) else tuple(padding[i])
        if p == "valid":
            lo = hi = 0
        elif p == "same":
            if isinstance(n, int):
                lo, hi = same_pads(n, k, s, d)
            else:
                total = bb.smax((tir.floordiv(n + s - 1, s) - 1) * s + eff - n, 0)
                lo = bb.simplify(tir.floordiv(total, 2))
                hi = bb.simplify(total - lo)
        else:
            lo, hi = p
        if isinstance(n, int) and isinstance(lo, int) and isinstance(hi, int):
            out = max((n + lo + hi - eff) // s + 1, 0)
        else:
            out = bb.simplify(bb.smax(tir.floordiv(n + lo + hi - eff, s) + 1, 0))
        pads.append((lo, hi))
        outs.append(out)
    return pads, outs


def _relax_padded(bb, t, pads, fill):
    """TE stage: the channels-last tensor ``t`` padded on its spatial axes with ``fill``."""
    if all(_is_zero(lo) and _is_zero(hi) for lo, hi in pads):
        return t
    tir = bb.tir
    spatial = t.shape[1:-1]

    def element(b, *rest):
        src = [i - lo for i, (lo, _) in zip(rest[:-1], pads)]
        inside = [c for s, n in zip(src, spatial) for c in (s >= 0, s < n)]
        return tir.if_then_else(tir.all(*inside), t[(b, *src, rest[-1])], fill)

    shape = [t.shape[0]] + [n + lo + hi for n, (lo, hi) in zip(spatial, pads)] + [t.shape[-1]]
    return bb.te.compute(shape, element, name="pad")


def _relax_lowest(bb, dtype):
    """-inf (the max-pool padding), or an integer type's smallest value."""
    from graphkeras.compiler.ir import is_float
    return bb.tir.const(-np.inf, dtype) if is_float(dtype) else bb.tir.min_value(dtype)
