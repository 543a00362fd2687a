"""Shape and dtype rules shared by several op families."""
from __future__ import annotations

from graphkeras.compiler.ir import AVal


def broadcast_shapes(*shapes) -> tuple:
    """numpy broadcasting, where ``None`` is a dimension known only at run time."""
    ndim = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"Shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                             "cannot be broadcast together.")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def same_dtype(*avals) -> str:
    dtypes = {a.dtype for a in avals}
    if len(dtypes) != 1:
        raise TypeError("Operands must have the same dtype; received "
                        + ", ".join(a.dtype for a in avals) + ". Cast one of them with gk.ops.cast.")
    return dtypes.pop()


def unary_rule(x: AVal, **attrs) -> AVal:
    return AVal(x.shape, x.dtype)


def binary_rule(x: AVal, y: AVal, **attrs) -> AVal:
    return AVal(broadcast_shapes(x.shape, y.shape), same_dtype(x, y))


def compare_rule(x: AVal, y: AVal, **attrs) -> AVal:
    same_dtype(x, y)
    return AVal(broadcast_shapes(x.shape, y.shape), "bool")


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"axis {axis} is out of bounds for a tensor of rank {ndim}.")
    return axis % ndim if ndim else 0


def normalize_axes(axes, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    return tuple(sorted(normalize_axis(a, ndim) for a in axes))
