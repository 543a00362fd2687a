"""Local simplifications, as a rule table. Each rule maps a node to the value that
can stand for its output, or None.

1. ``x * 1``, ``1 * x``, ``x / 1``, ``x + 0``, ``0 + x``, ``x - 0`` -> ``x``
   (only when the constant does not broadcast ``x`` to a bigger shape).
2. A reduction over no axes -> its input.
3. ``cast`` to the dtype the value already has -> its input.
4. ``transpose`` with the identity permutation -> its input.
5. ``reshape`` whose static shape equals its input's -> its input.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import Graph, Node


def _const(value):
    """The array of a value made by a constant node (or a constant broadcast to a static
    shape: a loop's zero-initialised sum), else None."""
    node = value.producer
    if node is not None and node.op == "broadcast_like" and _static(value.shape):
        node = node.inputs[0].producer
    if node is not None and node.op == "constant":
        return node.attrs["value"]
    return None


def _is(value, number):
    array = _const(value)
    return array is not None and array.size > 0 and bool(np.all(array == number))


def _same(x, node):
    out = node.outputs[0]
    return x if tuple(x.shape) == tuple(out.shape) and x.dtype == out.dtype else None


def _binary_identity(node: Node):
    x, y = node.inputs
    op = node.op
    if op == "multiply":
        if _is(y, 1):
            return _same(x, node)
        if _is(x, 1):
            return _same(y, node)
    if op == "divide" and _is(y, 1):
        return _same(x, node)
    if op == "add":
        if _is(y, 0):
            return _same(x, node)
        if _is(x, 0):
            return _same(y, node)
    if op == "subtract" and _is(y, 0):
        return _same(x, node)
    return None


def _static(shape):
    return all(d is not None for d in shape)


RULES = {
    "multiply": _binary_identity,
    "divide": _binary_identity,
    "add": _binary_identity,
    "subtract": _binary_identity,
    "reduce_sum": lambda n: n.inputs[0] if not n.attrs["axes"] else None,
    "reduce_mean": lambda n: n.inputs[0] if not n.attrs["axes"] else None,
    "reduce_max": lambda n: n.inputs[0] if not n.attrs["axes"] else None,
    "reduce_min": lambda n: n.inputs[0] if not n.attrs["axes"] else None,
    "reduce_prod": lambda n: n.inputs[0] if not n.attrs["axes"] else None,
    "cast": lambda n: n.inputs[0] if n.inputs[0].dtype == n.attrs["dtype"] else None,
    "transpose": lambda n: n.inputs[0] if list(n.attrs["perm"]) == list(range(len(n.attrs["perm"])))
    else None,
    "reshape": lambda n: n.inputs[0] if _static(n.inputs[0].shape) and
    tuple(n.inputs[0].shape) == tuple(n.outputs[0].shape) else None,
}


class Simplify:
    def run(self, graph: Graph) -> bool:
        from graphkeras.compiler.passes import rewrite

        def decide(node):
            rule = RULES.get(node.op)
            return None if rule is None else [rule(node)]

        return rewrite(graph, decide)
