"""Lowering a graph to a TVM Relax IRModule, one primitive lowering per node.

``jit_compile=True`` runs graphs through Apache TVM: :func:`lower` turns an IR
:class:`~graphkeras.compiler.ir.Graph` into a Relax function ``main`` built with
a ``relax.BlockBuilder``, calling each primitive's ``relax`` rule (see
``Primitive.def_relax``). Dimensions the IR leaves unknown (``None``) become
symbolic shape variables, so one compiled module serves every batch size: the
first axis of every input shares the variable ``batch`` (as every step input
holds one batch); any other unknown axis ``i`` of an input is its own variable
``<input>_d<i>`` (a query and a value of attention may differ in length).

A rule is ``rule(bb, node, *inputs) -> expr | [expr, ...]``: ``bb`` is a
:class:`RelaxBuilder`, ``inputs`` are Relax expressions, the result is an
expression (emitted here) or a list of them for multi-result primitives. Rules
reach TVM through ``bb`` (``bb.op`` is ``tvm.relax.op``, ``bb.te``, ``bb.tir``),
so the op modules never import TVM: it is imported only when a graph is
lowered.
"""
from __future__ import annotations

import re

import numpy as np

from graphkeras.compiler.ir import Graph, is_float
from graphkeras.compiler.primitive import PRIMITIVES


class RelaxBuilder:
    """A ``relax.BlockBuilder`` with the helpers the primitives' Relax rules share."""

    def __init__(self):
        import tvm
        from tvm import relax, te, tirx, topi
        self.tvm, self.relax, self.op = tvm, relax, relax.op
        self.te, self.tir, self.topi = te, tirx, topi
        self.block = relax.BlockBuilder()
        self._dims: dict[str, object] = {}
        self.functions: dict[int, object] = {}  # id(body graph) -> its function's GlobalVar
        self.params: list = []  # the parameters of the function being built
        self.bound: dict[str, int] = {}  # symbolic dimensions given a static size

    # ---------------------------------------------------------------- values
    def emit(self, expr, name: str = ""):
        """Bind ``expr`` to a new variable (constants and variables are returned as they are)."""
        relax = self.relax
        if isinstance(expr, (relax.Var, self.tvm.ir.expr.Constant)):
            return expr
        return self.block.emit(expr, _safe(name))

    def emit_te(self, fn, *args, name: str | None = None, **kwargs):
        """``fn`` (a TE compute over placeholders for ``args``) as a TIR function and its call."""
        if name is not None:
            kwargs["primfunc_name_hint"] = _safe(name)
        return self.block.emit_te(fn, *args, **kwargs)

    def const(self, value, dtype: str | None = None):
        array = np.asarray(value, dtype=dtype)
        return self.relax.const(array, array.dtype.name)

    def dim(self, name: str):
        """The symbolic dimension ``name`` (one variable per name in a module)."""
        var = self._dims.get(name)
        if var is None:
            var = self._dims[name] = self.tir.Var(name, "int64")
        return var

    def shape(self, x) -> list:
        """``x``'s dimensions (a Relax expression or a TE tensor): Python ints where known,
        else TIR expressions. Inside a TE compute, read the shapes of its placeholders
        (their symbolic dimensions are the kernel's own)."""
        if isinstance(x, self.te.Tensor):
            return [_int_or_expr(d) for d in x.shape]
        if not isinstance(x, (self.relax.Var, self.tvm.ir.expr.Constant)):
            x = self.block.normalize(x)
        return [_int_or_expr(d) for d in x.ty.shape.values]

    def dtype(self, x) -> str:
        return str(x.ty.dtype)

    @staticmethod
    def prim(d):
        """A Python int as a TIR int64 constant (TIR expressions unchanged)."""
        return _as_prim(d)

    def reshape(self, x, dims):
        if any(isinstance(d, int) and d == 0 for d in dims):  # (Relax reads 0 as "keep")
            return self.empty(dims, self.dtype(self.emit(x)))
        return self.op.reshape(x, [_as_prim(d) for d in dims])

    def empty(self, dims, dtype, name="empty"):
        """A tensor with no elements, made by a kernel that reads a function parameter (a
        constant of no elements cannot be serialized by TVM)."""
        te, tir = self.te, self.tir
        anchor = self.params[0] if self.params else None
        if anchor is None:
            return self.emit(self.op.zeros([_as_prim(d) for d in dims], dtype), name)
        return self.emit_te(lambda t: te.compute([_as_prim(d) for d in dims],
                                                 lambda *i: tir.const(0, dtype), name="empty"),
                            anchor, name=name)

    def unify(self, *xs) -> list:
        """Operands about to be broadcast together, their symbolic dimensions made the same:
        where an operand holds a symbolic size at one (right-aligned) position and another
        operand a different size there (a known size other than 1 wins, else the first
        symbolic one), it is cast to that size (a check at run time), so Relax knows the
        result's shape."""
        from tvm_ffi import structural_equal
        shapes = [self.shape(x) for x in xs]
        rank = max(len(s) for s in shapes)
        target = {}
        for pos in range(1, rank + 1):
            dims = [s[-pos] for s in shapes if pos <= len(s)]
            known = [d for d in dims if isinstance(d, int) and d != 1]
            symbolic = [d for d in dims if not isinstance(d, int)]
            if known:
                target[pos] = known[0]
            elif symbolic:
                target[pos] = symbolic[0]
        out = list(xs)
        for k, shape in enumerate(shapes):
            new, changed = list(shape), False
            for pos in range(1, len(new) + 1):
                d, e = new[-pos], target.get(pos)
                if isinstance(d, int) or e is None:
                    continue
                if isinstance(e, int) or not structural_equal(d, e):
                    new[-pos], changed = e, True
            if changed:
                x = self.emit(xs[k])
                out[k] = self.block.match_cast(x, self.relax.TensorType(
                    [_as_prim(d) for d in new], self.dtype(x)))
        return out

    # ------------------------------------------------- index arithmetic (int or TIR)
    def smax(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self.tir.max(_as_prim(a), _as_prim(b))

    def smin(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        return self.tir.min(_as_prim(a), _as_prim(b))

    def simplify(self, d):
        if isinstance(d, int):
            return d
        from tvm.sym import Analyzer
        d = Analyzer().simplify(d)
        return _int_or_expr(d)

    def py_slice(self, n, start, stop, step):
        """Python's ``slice(start, stop, step).indices(n)`` and the length of the range,
        for a known or symbolic ``n``: ``(first, length)``."""
        if isinstance(n, int):
            lo, hi, st = slice(start, stop, step).indices(n)
            return lo, len(range(lo, hi, st))
        tir = self.tir
        lower, upper = (0, n) if step > 0 else (-1, n - 1)

        def bound(v, default):
            if v is None:
                return default
            if v < 0:
                return self.smax(v + n, lower)
            return self.smin(v, upper)

        lo = bound(start, 0 if step > 0 else n - 1)
        hi = bound(stop, n if step > 0 else -1)
        if step > 0:
            length = tir.max(tir.floordiv(_as_prim(hi) - lo + step - 1, step), 0)
        else:
            length = tir.max(tir.floordiv(_as_prim(lo) - hi - step - 1, -step), 0)
        return self.simplify(_as_prim(lo)), self.simplify(length)

    # ------------------------------------------------- TE kernels
    def broadcast_dims(self, *shapes) -> list:
        """numpy broadcasting of known/symbolic dimensions (a static 1 stretches)."""
        rank = max(len(s) for s in shapes)
        padded = [[1] * (rank - len(s)) + list(s) for s in shapes]
        out = []
        for dims in zip(*padded):
            known = [d for d in dims if isinstance(d, int) and d != 1]
            symbolic = [d for d in dims if not isinstance(d, int)]
            out.append(known[0] if known else (symbolic[0] if symbolic else 1))
        return out

    def elementwise(self, fn, *args, name: str = "elementwise"):
        """``fn(*scalars)`` over the broadcast of ``args`` (Relax tensors), as one TE kernel."""
        te = self.te
        if len(args) > 1:
            args = self.unify(*args)

        def compute(*tensors):
            shapes = [self.shape(t) for t in tensors]
            out = self.broadcast_dims(*shapes)
            rank = len(out)

            def element(*index):
                scalars = []
                for t, s in zip(tensors, shapes):
                    offset = rank - len(s)
                    idx = [0 if (isinstance(d, int) and d == 1 and not
                                 (isinstance(out[offset + k], int) and out[offset + k] == 1))
                           else index[offset + k] for k, d in enumerate(s)]
                    scalars.append(t[tuple(idx)])
                return fn(*scalars)
            return te.compute([_as_prim(d) for d in out], element, name=_safe(name))

        return self.emit_te(compute, *args, name=name)

    def reduce(self, x, axes, keepdims, reducer, name: str = "reduce"):
        """A TE reduction of ``x`` over ``axes`` with ``reducer`` (e.g. ``te.sum`` or
        :meth:`reducer`)."""
        te = self.te
        axes = sorted(axes)

        def compute(t):
            dims = list(t.shape)
            if keepdims:
                out = [1 if i in axes else d for i, d in enumerate(dims)]
            else:
                out = [d for i, d in enumerate(dims) if i not in axes]

            def element(*index):
                red = [te.reduce_axis((0, dims[a]), name=f"r{a}") for a in axes]
                idx, k, r = [], 0, iter(red)
                for i in range(len(dims)):
                    if i in axes:
                        idx.append(next(r))
                        k += 1 if keepdims else 0
                    else:
                        idx.append(index[k])
                        k += 1
                return reducer(t[tuple(idx)], axis=red)
            return te.compute([_as_prim(d) for d in out], element, name=_safe(name))

        return self.emit_te(compute, x, name=name)

    # ------------------------------------------------- TE expressions
    def fmax(self, a, b):
        """numpy's ``maximum``: NaN wins."""
        return self._nan_select(a, b, self.tir.max(a, b))

    def fmin(self, a, b):
        """numpy's ``minimum``: NaN wins."""
        return self._nan_select(a, b, self.tir.min(a, b))

    def _nan_select(self, a, b, value):
        if not is_float(scalar_dtype(a)):
            return value
        tir = self.tir
        return tir.Select(tir.isnan(a), a, tir.Select(tir.isnan(b), b, value))

    def reducer(self, kind: str):
        """A TE max/min reducer that propagates NaN (numpy's ``max``/``min``)."""
        te, tir = self.te, self.tir
        combine = self.fmax if kind == "max" else self.fmin

        def identity(t):
            if is_float(str(t)):
                return tir.const(-np.inf if kind == "max" else np.inf, t)
            return tir.min_value(t) if kind == "max" else tir.max_value(t)

        return te.comm_reducer(lambda x, y: combine(x, y), identity, name=f"nan_{kind}")


def scalar_dtype(e) -> str:
    """The dtype of a TIR expression or of a TE tensor element."""
    from tvm.te import TensorSlice
    return str(e.dtype) if isinstance(e, TensorSlice) else str(e.ty)


def _int_or_expr(d):
    from tvm import tirx
    if isinstance(d, tirx.IntImm):
        return int(d.value)
    return d


def _as_prim(d):
    from tvm import tirx
    if isinstance(d, (int, np.integer)):
        return tirx.IntImm("int64", int(d))
    return d


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name or "v")


def relax_name(name: str) -> str:
    """The name of a graph input's parameter in the lowered Relax function."""
    return _safe(name)


# ------------------------------------------------------------------ lowering
def dim_name(axis: int) -> str:
    return "batch" if axis == 0 else f"d{axis}"


def lower_into(bb: RelaxBuilder, graph: Graph, inputs: list) -> list:
    """Emit ``graph``'s nodes into the current block, reading ``inputs`` (Relax
    expressions in ``graph.inputs`` order); returns its outputs. Loop bodies lower
    through this too."""
    env = {id(v): x for v, x in zip(graph.inputs, inputs)}
    relax = bb.relax
    for node in graph.nodes:
        prim = PRIMITIVES[node.op]
        if prim.relax is None:
            raise ValueError(f"Op {node.op!r} has no TVM Relax lowering, so this graph cannot be "
                             "compiled with jit_compile=True.")
        out = prim.relax(bb, node, *[env[id(v)] for v in node.inputs])
        outs = list(out) if prim.multiple_results else [out]
        if len(outs) != len(node.outputs):
            raise ValueError(f"The Relax rule of {node.op!r} returned {len(outs)} results; "
                             f"the op has {len(node.outputs)}.")
        for v, x in zip(node.outputs, outs):
            x = bb.emit(x, v.name)
            ty = x.ty
            if not isinstance(ty, relax.TensorType) or str(ty.dtype) != v.dtype or \
                    len(v.shape) != ty.ndim:
                raise TypeError(f"The Relax rule of {node.op!r} gave {ty}; the op gives "
                                f"{v.dtype}{list(v.shape)}.")
            if ty.shape is None:  # shape unknown to Relax: name it (static dims from the IR)
                dims = [bb.dim(f"{_safe(v.name)}_{i}") if d is None else d
                        for i, d in enumerate(v.shape)]
                x = bb.block.match_cast(x, relax.TensorType([_as_prim(d) for d in dims], v.dtype))
            dims = [_int_or_expr(d) for d in x.ty.shape.values]
            if any(isinstance(d, int) and d == 0 for d in dims):
                x = bb.empty(dims, v.dtype, v.name)  # made afresh: Relax's views of them fail
            env[id(v)] = x
    return [env[id(v)] for v in graph.outputs]


def input_type(bb: RelaxBuilder, shape, dtype, name: str = ""):
    def unknown(i):
        if i == 0:
            return bb.bound.get(dim_name(0)) or bb.dim(dim_name(0))
        return bb.dim(f"{_safe(name)}_{dim_name(i)}")
    dims = [unknown(i) if d is None else d for i, d in enumerate(shape)]
    return bb.relax.TensorType([_as_prim(d) for d in dims], dtype)


def _function(bb: RelaxBuilder, graph: Graph, name: str, private: bool = False):
    """``graph`` as the Relax function ``name`` (inputs in order -> tuple of outputs); returns
    its GlobalVar (the block builder gives an existing function's when ``graph`` lowers to a
    function structurally equal to one already in the module, e.g. the two loop bodies of a
    ``Bidirectional``, so it may not be named ``name``)."""
    relax = bb.relax
    saved, bb._dims = bb._dims, {}  # symbolic dimensions belong to one function
    saved_params = bb.params
    try:
        params = [relax.Var(_safe(v.name), input_type(bb, v.shape, v.dtype, v.name))
                  for v in graph.inputs]
        bb.params = params
        with bb.block.function(name, params, private=private):
            with bb.block.dataflow():
                outs = lower_into(bb, graph, params)
                result = bb.block.emit_output(relax.Tuple(outs))
            gvar = bb.block.emit_func_output(result)
    finally:
        bb._dims = saved
        bb.params = saved_params
    return gvar


def _bodies(graph: Graph, found: list) -> list:
    """Graphs held in node attributes (loop bodies), innermost first."""
    for node in graph.nodes:
        for attr in node.attrs.values():
            if isinstance(attr, Graph) and all(attr is not g for g in found):
                _bodies(attr, found)
                found.append(attr)
    return found


def lower(graph: Graph, name: str = "main", batch_size: int | None = None):
    """The Relax IRModule of ``graph``: one function ``name`` taking the graph's
    inputs (in order) and returning a tuple of its outputs; loop bodies become
    private functions it calls. ``batch_size`` makes the batch dimension static
    (tuned kernels need static shapes)."""
    _register_elsewhere()
    bb = RelaxBuilder()
    if batch_size is not None:
        bb.bound["batch"] = int(batch_size)
    for k, body in enumerate(_bodies(graph, [])):
        fname = f"{_safe(body.name)}_{k}"
        bb.functions[id(body)] = _function(bb, body, fname, private=True)
    _function(bb, graph, name)
    return bb.block.get()


# ----------------------------------------------- rules of primitives defined elsewhere
def _scan_rule(bb, node, *inputs):
    """``scan``: the body is a function of the module, called once per step (the number of
    steps must be known when compiling); the ``ys`` are stacked in sequence order."""
    a = node.attrs
    body, n_carry, n_seq = a["body"], a["n_carry"], a["n_seq"]
    relax = bb.relax
    carry, seqs = list(inputs[:n_carry]), list(inputs[n_carry:n_carry + n_seq])
    consts = list(inputs[n_carry + n_seq:])
    steps = node.inputs[n_carry].shape[0] if n_seq else a["length"]
    if steps is None:
        raise ValueError("A scan over sequences of unknown length cannot be compiled with TVM "
                         "(jit_compile=True); give the sequence axis a known size.")
    fn = bb.functions[id(body)]
    n_y = len(body.outputs) - n_carry
    ys = [[None] * steps for _ in range(n_y)]
    for t in (range(steps - 1, -1, -1) if a["reverse"] else range(steps)):
        index = bb.const(np.asarray(t, np.int64))
        sl = [bb.emit(bb.op.take(s, index, axis=0, mode="clip")) for s in seqs]
        out = bb.emit(relax.Call(fn, carry + sl + consts), "scan_step")
        items = [bb.emit(_tuple_item(bb, out, i)) for i in range(len(body.outputs))]
        carry = items[:n_carry]
        for j, y in enumerate(items[n_carry:]):
            ys[j][t] = y
    stacked = []
    for j, v in enumerate(body.outputs[n_carry:]):
        if steps:
            stacked.append(bb.op.stack(ys[j], axis=0))
        elif None not in v.shape:
            stacked.append(bb.op.zeros([_as_prim(d) for d in (0,) + tuple(v.shape)], v.dtype))
        else:
            raise ValueError("A scan of zero steps with outputs of unknown shape cannot be "
                             "compiled with TVM.")
    return carry + stacked


def _tuple_item(bb, tup, i: int):
    """Item ``i`` of the tuple a loop body returned, read by the VM (an opaque call): FuseOps
    does not fuse these reads into the kernels that consume them (with ``TupleGetItem``s of
    several steps in one group it can build a fused function that reads a variable it does not
    take, at random, and FuseTIR then fails with "key is not in Map")."""
    relax = bb.relax
    return relax.call_pure_packed("vm.builtin.tuple_getitem", tup, relax.prim_value(i),
                                  ty_args=tup.ty.fields[i])


def _einsum_rule(bb, node, *xs):
    return bb.op.einsum(list(xs), node.attrs["equation"])


def _arange_like_rule(bb, node, x):
    return bb.emit_te(lambda t: bb.te.compute((t.shape[node.attrs["axis"]],), lambda i: bb.tir.Cast(
        node.attrs["dtype"], i), name="arange"), x, name="arange_like")


# Primitives whose modules other work is changing right now get their rules here;
# each belongs next to its op (``scan_p.def_relax(...)`` in ops/control.py).
_ELSEWHERE = {"scan": _scan_rule, "einsum": _einsum_rule, "arange_like": _arange_like_rule}


def _register_elsewhere():
    for name, rule in _ELSEWHERE.items():
        prim = PRIMITIVES.get(name)
        if prim is not None and prim.relax is None:
            prim.def_relax(rule)


_register_elsewhere()


def missing_rules() -> list[str]:
    """Primitives without a Relax rule (graphs using them cannot run on TVM)."""
    _register_elsewhere()
    return sorted(name for name, prim in PRIMITIVES.items() if prim.relax is None)
