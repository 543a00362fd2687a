"""Building nodes inside a pass: the output values get their shapes from the op's rule
and fresh names from the graph."""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, Node, Value
from graphkeras.compiler.primitive import PRIMITIVES


def make_node(graph: Graph, op: str, inputs, attrs=None, hint=None) -> Node:
    """A new node applying ``op`` to ``inputs`` (not yet placed in ``graph.nodes``)."""
    attrs = dict(attrs or {})
    avals = PRIMITIVES[op].abstract_eval([v.aval for v in inputs], attrs)
    node = Node(op, inputs, [], attrs)
    node.outputs = [Value(a.shape, a.dtype, graph.fresh_name(hint or op), node) for a in avals]
    return node


def uses(graph: Graph) -> dict[int, int]:
    """How many times each value is read (by nodes and as a graph output)."""
    count: dict[int, int] = {}
    for node in graph.nodes:
        for v in node.inputs:
            count[id(v)] = count.get(id(v), 0) + 1
    for v in graph.outputs:
        count[id(v)] = count.get(id(v), 0) + 1
    return count
