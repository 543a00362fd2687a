"""Linear-algebra primitives: ``einsum``; and ``arange_like``, the positions along
one axis of a tensor (the row/column indices of causal attention masks, for any
sequence length).

``einsum`` keeps one explicit equation per node (``"abc,cde->abde"``: every
operand's subscripts spelled out, no ``...``, an explicit output), so its shape
rule, its numpy kernel (``np.einsum``), its ONNX lowering (``Einsum``) and its
gradient rule all read the same equation. The public :func:`einsum` accepts
numpy's forms (implicit output, ``...``) and rewrites them into that one.

The gradient with respect to one operand is itself an einsum: the output
cotangent contracted with the other operands, producing that operand's
subscripts. A letter that appears in that operand only (summed out of it alone)
is missing from that contraction; the result is broadcast back along it.
"""
from __future__ import annotations

import string

import numpy as np

from graphkeras.compiler.ir import AVal, canonical_dtype
from graphkeras.compiler.onnx_builder import ONNX_DTYPE
from graphkeras.compiler.primitive import Primitive
from graphkeras.compiler.ops._rules import normalize_axis, same_dtype
from graphkeras.compiler.ops.shape import broadcast_like, unsqueeze_p


def _split(equation):
    lhs, out = equation.split("->")
    return lhs.split(","), out


def _einsum_rule(*operands, equation):
    subs, out = _split(equation)
    if len(subs) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} names {len(subs)} operand(s), "
                         f"but {len(operands)} were given.")
    sizes: dict[str, int | None] = {}
    for k, (sub, x) in enumerate(zip(subs, operands)):
        if len(sub) != len(x.shape):
            raise ValueError(f"einsum: operand {k} has rank {len(x.shape)} (shape {x.shape}) but "
                             f"the equation {equation!r} gives it {len(sub)} subscripts.")
        for letter, d in zip(sub, x.shape):
            known = sizes.get(letter)
            if d is not None and known is not None and known != d:
                raise ValueError(f"einsum: subscript {letter!r} has size {known} in one operand "
                                 f"and {d} in another (equation {equation!r}).")
            if known is None:
                sizes[letter] = d
    return AVal(tuple(sizes[c] for c in out), same_dtype(*operands))


einsum_p = Primitive("einsum", _einsum_rule)


@einsum_p.def_impl
def _(*xs, equation):
    out = np.einsum(equation, *xs, optimize=len(xs) > 1)
    return np.asarray(out, dtype=np.result_type(*xs))


@einsum_p.def_onnx
def _(b, node, *xs):
    return b.op("Einsum", list(xs), equation=node.attrs["equation"])


@einsum_p.def_vjp
def _(g, y, *xs, equation):
    subs, out = _split(equation)
    grads = []
    for i, (sub, x) in enumerate(zip(subs, xs)):
        other_subs = [out] + [s for j, s in enumerate(subs) if j != i]
        others = [g] + [xj for j, xj in enumerate(xs) if j != i]
        present = set("".join(other_subs))
        kept = "".join(c for c in sub if c in present)
        gi = einsum_p.bind(*others, equation=",".join(other_subs) + "->" + kept)
        if kept != sub:  # letters summed out of x alone: the cotangent is constant along them
            gi = unsqueeze_p.bind(gi, axes=tuple(k for k, c in enumerate(sub) if c not in present))
            gi = broadcast_like(gi, x)
        grads.append(gi)
    return grads


# ------------------------------------------------------------ public function
def _rank(x):
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def explicit_equation(equation, ranks):
    """``equation`` with ``...`` spelled out and an explicit output (numpy's rules:
    the implicit output is the ellipsis axes, then the letters used once, sorted)."""
    equation = equation.replace(" ", "")
    if "->" in equation:
        lhs, out = equation.split("->")
        explicit_out = True
    else:
        lhs, out, explicit_out = equation, "", False
    subs = lhs.split(",")
    if len(subs) != len(ranks):
        raise ValueError(f"einsum: the equation {equation!r} names {len(subs)} operand(s), but "
                         f"{len(ranks)} were given.")
    used = set(c for c in equation if c.isalpha())
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    ell_ranks = []
    for sub, rank in zip(subs, ranks):
        if "..." in sub:
            n = rank - (len(sub) - 3)
            if n < 0:
                raise ValueError(f"einsum: operand of rank {rank} is too small for {sub!r}.")
            ell_ranks.append(n)
        elif len(sub) != rank:
            raise ValueError(f"einsum: operand of rank {rank} does not match subscripts {sub!r} "
                             f"in {equation!r}.")
    width = max(ell_ranks, default=0)
    ell = "".join(spare[:width])
    new_subs = []
    for sub, rank in zip(subs, ranks):
        if "..." in sub:
            n = rank - (len(sub) - 3)
            sub = sub.replace("...", ell[width - n:])
        new_subs.append(sub)
    for sub in new_subs:
        if not all(c.isalpha() for c in sub):
            raise ValueError(f"einsum: invalid subscripts {sub!r} in {equation!r}.")
        if len(set(sub)) != len(sub):
            raise NotImplementedError(f"einsum: repeated subscripts within one operand ({sub!r}, "
                                      "a diagonal) are not supported.")
    if explicit_out:
        out = out.replace("...", ell)
    else:
        counts = {}
        for c in "".join(new_subs):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    if len(set(out)) != len(out) or any(c not in "".join(new_subs) for c in out):
        raise ValueError(f"einsum: invalid output subscripts {out!r} in {equation!r}.")
    return ",".join(new_subs) + "->" + out


def einsum(equation, *operands):
    """``np.einsum`` on traced values: runs eagerly on arrays, records one node on
    symbolic tensors, differentiable in every operand."""
    return einsum_p.bind(*operands, equation=explicit_equation(equation,
                                                               [_rank(x) for x in operands]))


# -------------------------------------------------------------- arange_like
arange_like_p = Primitive("arange_like",
                          lambda x, axis, dtype: AVal((x.shape[axis],), canonical_dtype(dtype)))
arange_like_p.def_impl(lambda x, axis, dtype: np.arange(x.shape[axis], dtype=np.dtype(dtype)))
arange_like_p.def_vjp(lambda g, y, x, axis, dtype: [None])  # positions do not depend on values


@arange_like_p.def_onnx
def _(b, node, x):
    axis, dtype = node.attrs["axis"], node.attrs["dtype"]
    n = b.op("Squeeze", [b.op("Shape", [x], start=axis, end=axis + 1)])
    out = b.op("Range", [b.const(np.int64(0)), n, b.const(np.int64(1))])
    return out if dtype == "int64" else b.op("Cast", [out], to=ONNX_DTYPE[dtype])


def arange_like(x, axis=0, dtype="int64"):
    """``[0, 1, ..., x.shape[axis] - 1]``, the size read at run time."""
    return arange_like_p.bind(x, axis=normalize_axis(axis, _rank(x)), dtype=canonical_dtype(dtype))
