"""Reverse-mode differentiation of traced graphs.

:func:`grad` walks the nodes of the active trace backwards from a scalar,
calling each primitive's gradient rule. The rules are written on the traced
ops, so the backward pass lands in the same graph as the forward pass and is
lowered with it. Cotangents of values used twice are summed (fan-out); a
cotangent wider than its value because of broadcasting is summed back to the
value's shape here, once, so no rule has to undo broadcasting.

A rule has the form ``vjp(g, outs, *inputs, **attrs) -> [cotangent or None]``
with one entry per input; ``None`` means "no gradient flows into this input"
(labels, indices, shapes).
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import is_float
from graphkeras.compiler.primitive import PRIMITIVES, Tensor


class GradientError(ValueError):
    pass


NON_DIFFERENTIABLE = {"constant", "argmax", "argmin", "equal", "less", "less_equal", "greater",
                      "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
                      "is_nan", "is_inf", "random_uniform_like", "random_normal_like", "floor",
                      "ceil", "round", "sign", "stop_gradient", "hash_uniform", "dim_size"}


def unbroadcast(g, shape):
    """Sum ``g`` over the axes along which a value of ``shape`` was broadcast."""
    from graphkeras.compiler import ops
    g_shape = tuple(g.shape)
    if g_shape == tuple(shape):
        return g
    lead = len(g_shape) - len(shape)
    if lead:
        g = ops.sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, (d, s) in enumerate(zip(g.shape, shape)) if s == 1 and d != 1)
    if axes:
        g = ops.sum(g, axis=axes, keepdims=True)
    return g


def grad(y, xs: list[Tensor], y_bar=None) -> list:
    """Gradients of scalar ``y`` with respect to each of ``xs`` (None where ``y``
    does not depend on it), as symbolic tensors in ``y``'s trace.

    ``y`` may also be a list of tensors and ``y_bar`` the list of their cotangents (a
    vector-Jacobian product: the gradient of ``sum_i <y_i, y_bar_i>``, without ops to
    form that sum; a loop's reverse step seeds its outputs this way)."""
    from graphkeras.compiler import ops
    ys, bars = (list(y), list(y_bar)) if isinstance(y, (list, tuple)) else ([y], [y_bar])
    trace = ys[0].trace
    graph = trace.graph
    # only nodes between xs and y matter
    wanted = {id(x.value) for x in xs}
    needed = _nodes_on_path(graph, [t.value for t in ys], wanted)
    cotangent = {}
    for t, bar in zip(ys, bars):
        if bar is None:
            if t.shape not in ((), (1,)):
                raise GradientError("grad() needs a scalar to differentiate; received shape "
                                    f"{t.shape}.")
            bar = np.ones(t.shape, dtype=t.dtype)
        bar = bar if isinstance(bar, Tensor) else ops.cast(bar, t.dtype)
        previous = cotangent.get(id(t.value))
        cotangent[id(t.value)] = bar if previous is None else ops.add(previous, bar)
    for node in reversed(graph.nodes):
        if id(node) not in needed:
            continue
        gs = [cotangent.pop(id(v), None) for v in node.outputs]
        if all(g is None for g in gs):
            continue
        if node.op in NON_DIFFERENTIABLE:
            continue
        prim = PRIMITIVES[node.op]
        if prim.vjp is None:
            raise GradientError(f"The op '{node.op}' (at {node.outputs[0].name}) has no gradient "
                                "rule, so this model cannot be differentiated through it.")
        outs = [Tensor(v, trace) for v in node.outputs]
        ins = [Tensor(v, trace) for v in node.inputs]
        if not prim.multiple_results:
            gs, outs = gs[0], outs[0]
        with trace.name_scope("gradients"):
            in_grads = prim.vjp(gs, outs, *ins, **node.attrs)
            for v, g in zip(node.inputs, in_grads):
                if g is None or not is_float(v.dtype):
                    continue
                g = unbroadcast(g, v.shape)
                if g.dtype != v.dtype:
                    g = ops.cast(g, v.dtype)
                previous = cotangent.get(id(v))
                cotangent[id(v)] = g if previous is None else ops.add(previous, g)
    return [cotangent.get(id(x.value)) for x in xs]


def _nodes_on_path(graph, y_values, wanted_ids):
    """Ids of nodes that lie on some path from a wanted value to one of ``y_values``."""
    reaches_wanted: dict[int, bool] = {}
    for node in graph.nodes:
        hit = any(id(v) in wanted_ids or reaches_wanted.get(id(v), False) for v in node.inputs)
        for v in node.outputs:
            reaches_wanted[id(v)] = hit
    needed = set()
    live = {id(v) for v in y_values}
    for node in reversed(graph.nodes):
        if any(id(v) in live for v in node.outputs) and \
                any(reaches_wanted.get(id(v), False) for v in node.outputs):
            needed.add(id(node))
            live.update(id(v) for v in node.inputs)
    return needed
