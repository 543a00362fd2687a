"""Primitives, the op registry and the tracer.

A :class:`Primitive` is one record holding everything graphkeras knows about
an op: its shape/dtype rule, its numpy reference kernel, its gradient rule,
its ONNX lowering and its TVM Relax lowering. ``prim.bind(*args, **attrs)``
either runs the numpy kernel (all arguments concrete) or records a node in
the graph being traced (any argument symbolic).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphkeras.compiler.ir import AVal, Graph, Value, canonical_dtype

PRIMITIVES: dict[str, "Primitive"] = {}


class Primitive:
    """One op: ``shape_rule(*avals, **attrs) -> AVal | list[AVal]`` plus rules.

    Slots filled by decorators:
      ``impl(*arrays, **attrs)``          numpy reference kernel
      ``onnx(b, node, *input_names)``     ONNX lowering, returns output names
      ``vjp(g, outs, *ins, **attrs)``     gradient rule (None entries: no grad)
      ``relax(bb, node, *inputs)``        TVM Relax lowering
    """

    def __init__(self, name: str, shape_rule: Callable, multiple_results=False):
        if name in PRIMITIVES:
            raise ValueError(f"Primitive {name!r} is defined twice.")
        self.name = name
        self.shape_rule = shape_rule
        self.multiple_results = multiple_results
        self.impl: Callable | None = None
        self.onnx: Callable | None = None
        self.vjp: Callable | None = None
        self.relax: Callable | None = None
        PRIMITIVES[name] = self

    def def_impl(self, fn):
        self.impl = fn
        return fn

    def def_onnx(self, fn):
        self.onnx = fn
        return fn

    def def_vjp(self, fn):
        self.vjp = fn
        return fn

    def def_relax(self, fn):
        self.relax = fn
        return fn

    def abstract_eval(self, avals, attrs) -> list[AVal]:
        out = self.shape_rule(*avals, **attrs)
        outs = list(out) if self.multiple_results else [out]
        return [AVal(tuple(o.shape), canonical_dtype(o.dtype)) for o in outs]

    def bind(self, *args, **attrs):
        attrs = {k: _freeze(v) for k, v in attrs.items()}
        trace = _find_trace(args)
        if trace is None:
            arrays = [as_array(a) for a in args]
            out = self.impl(*arrays, **attrs)
            return list(out) if self.multiple_results else out
        values = [trace.lift(a) for a in args]
        out_avals = self.abstract_eval([v.aval for v in values], attrs)
        outs = trace.graph.add_node(self.name, values, out_avals, attrs, trace.name_hint(self.name))
        tensors = [Tensor(v, trace) for v in outs]
        return tensors if self.multiple_results else tensors[0]

    __call__ = bind

    def __repr__(self):
        return f"Primitive({self.name})"


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def as_array(x) -> np.ndarray:
    """A concrete argument as a numpy array (variables give their value)."""
    if isinstance(x, np.ndarray):
        return x
    concrete = getattr(x, "__array__", None)
    if concrete is not None and not isinstance(x, Tensor):
        return np.asarray(x)
    if isinstance(x, Tensor):
        raise TypeError("A symbolic tensor cannot be used as a concrete array here.")
    return np.asarray(x)


# ------------------------------------------------------------------- tracing
_TRACES: list["Trace"] = []


def current_trace() -> "Trace | None":
    return _TRACES[-1] if _TRACES else None


def _find_trace(args):
    """The trace to record into: the innermost one among the tensor arguments (a
    loop body may combine its own values with values of the graphs around it)."""
    found = None
    for a in args:
        if isinstance(a, Tensor) and (found is None or a.trace.depth > found.depth):
            found = a.trace
    if found is not None:
        return found
    for a in args:
        if hasattr(a, "_trace_value") and _TRACES:
            return _TRACES[-1]
    return None


class Trace:
    """Records primitives applied to symbolic tensors into a :class:`Graph`.

    Use as a context manager: while it is active, variables (objects with a
    ``_trace_value(trace)`` method) become graph inputs (params) instead of
    concrete arrays, so a model's weights enter the graph by name.

    A trace with a ``parent`` records a loop body (see ``ops.scan``): tensors of
    the enclosing traces that the body uses become inputs of the body graph
    (``captures``), as variables do.
    """

    def __init__(self, name="graph", parent: "Trace | None" = None):
        self.graph = Graph(name)
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.captures: dict[int, tuple["Tensor", Value]] = {}  # id(outer value) -> (outer, input)
        self.params: dict[int, tuple[object, Value]] = {}  # id(var) -> (var, input value)
        self.updates: dict[int, tuple[object, "Tensor"]] = {}  # id(var) -> (var, new value)
        self.collections: dict[str, list] = {}  # side values callers gather (e.g. added losses)
        self._scopes: list[str] = []
        self._constants: dict[int, tuple[object, Value]] = {}

    def __enter__(self):
        _TRACES.append(self)
        return self

    def __exit__(self, *exc):
        _TRACES.remove(self)

    # names ------------------------------------------------------------
    def name_scope(self, name):
        trace = self

        class _Scope:
            def __enter__(self_):
                trace._scopes.append(name)

            def __exit__(self_, *exc):
                trace._scopes.pop()

        return _Scope()

    def name_hint(self, op_name: str) -> str:
        return "/".join(self._scopes + [op_name])

    # values -----------------------------------------------------------
    def input(self, shape, dtype="float32", name="input") -> "Tensor":
        return Tensor(self.graph.add_input(shape, dtype, name), self)

    def param(self, key, shape, dtype, name) -> "Tensor":
        """The current value of variable ``key`` in this trace: the graph input
        standing for it (created on first read), or what it was last assigned."""
        updated = self.updates.get(id(key))
        if updated is not None:
            return updated[1]
        entry = self.params.get(id(key))
        if entry is None:
            value = self.graph.add_input(shape, dtype, name)
            entry = self.params[id(key)] = (key, value)
        return Tensor(entry[1], self)

    def assign(self, key, tensor: "Tensor") -> None:
        """Record that variable ``key`` takes ``tensor``'s value when the graph has run
        (a state output); later reads in this trace see the new value."""
        self.updates[id(key)] = (key, tensor)

    def constant(self, array) -> Value:
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
            if array.dtype == np.float64:  # Python floats are float32, as in Keras
                array = array.astype(np.float32)
        out, = self.graph.add_node("constant", [], [AVal(array.shape, array.dtype.name)],
                                   {"value": array}, self.name_hint("const"))
        return out

    def lift(self, x) -> Value:
        if isinstance(x, Tensor):
            if x.trace is not self and self._encloses(x.trace):
                return self._capture(x)
            if x.trace is not self:
                raise ValueError(
                    "A symbolic tensor from another graph was used here. Tensors created while "
                    "tracing one model cannot be mixed into another; pass them as inputs instead.")
            return x.value
        if hasattr(x, "_trace_value"):
            return x._trace_value(self).value
        return self.constant(x)

    def _encloses(self, other: "Trace") -> bool:
        trace = self.parent
        while trace is not None:
            if trace is other:
                return True
            trace = trace.parent
        return False

    def _capture(self, outer: "Tensor") -> Value:
        entry = self.captures.get(id(outer.value))
        if entry is None:
            value = self.graph.add_input(outer.shape, outer.dtype, "captured/" + outer.value.name)
            entry = self.captures[id(outer.value)] = (outer, value)
        return entry[1]


class Tensor:
    """A symbolic tensor: a :class:`Value` in the graph of an active trace.

    Python operators dispatch to the traced ops, so ``a + b * 2`` records
    nodes like ``gk.ops.add(a, gk.ops.multiply(b, 2))`` does.
    """

    __slots__ = ("value", "trace", "_keras_mask", "_keras_logits")
    __array_priority__ = 100  # numpy defers to our reflected operators

    def __init__(self, value: Value, trace: Trace):
        self.value = value
        self.trace = trace
        self._keras_logits = None  # the logits, when this tensor is softmax/sigmoid(logits)

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self):
        return len(self.value.shape)

    @property
    def name(self):
        return self.value.name

    def __repr__(self):
        return f"<Tensor {self.value.name} shape={self.shape} dtype={self.dtype}>"

    def __bool__(self):
        raise TypeError("A symbolic tensor has no truth value while tracing; use gk.ops.where "
                        "or a Python value instead.")

    def __len__(self):
        if self.shape and self.shape[0] is not None:
            return self.shape[0]
        raise TypeError("len() of a symbolic tensor with unknown first dimension.")

    # operators are attached by compiler.ops (which defines the ops)


def register_tensor_operators(namespace: dict):
    """Attach Python operators to :class:`Tensor` from the op functions."""
    binary = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
              "pow": "power", "matmul": "matmul", "floordiv": "floor_divide", "mod": "mod"}
    for dunder, fn_name in binary.items():
        fn = namespace[fn_name]
        setattr(Tensor, f"__{dunder}__", (lambda f: lambda a, b: f(a, b))(fn))
        setattr(Tensor, f"__r{dunder}__", (lambda f: lambda a, b: f(b, a))(fn))
    for dunder, fn_name in {"lt": "less", "le": "less_equal", "gt": "greater",
                            "ge": "greater_equal", "and": "logical_and", "or": "logical_or"}.items():
        fn = namespace[fn_name]
        setattr(Tensor, f"__{dunder}__", (lambda f: lambda a, b: f(a, b))(fn))
    Tensor.__neg__ = lambda a: namespace["negative"](a)
    Tensor.__abs__ = lambda a: namespace["abs"](a)
    Tensor.__invert__ = lambda a: namespace["logical_not"](a)
    Tensor.__getitem__ = lambda a, idx: namespace["getitem"](a, idx)
    Tensor.T = property(lambda a: namespace["transpose"](a))
    Tensor.__hash__ = object.__hash__
