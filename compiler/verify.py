"""``check_graph``: the IR's invariants, checked after tracing and in tests.

1. Every node's op is a registered primitive.
2. Nodes are in topological order: each input is a graph input or an output of
   an earlier node.
3. Value names are unique.
4. Each node's output shapes and dtypes are what its shape rule gives.
5. Graph outputs are defined values.
6. Graphs held in attributes (loop bodies) satisfy 1-5 themselves.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph
from graphkeras.compiler.primitive import PRIMITIVES


class GraphError(ValueError):
    pass


def check_graph(graph: Graph) -> Graph:
    defined = set()
    names = set()

    def define(value):
        if value.name in names:
            raise GraphError(f"check_graph: value name {value.name!r} is defined twice.")
        names.add(value.name)
        defined.add(id(value))

    for v in graph.inputs:
        define(v)
    for i, node in enumerate(graph.nodes):
        prim = PRIMITIVES.get(node.op)
        if prim is None:
            raise GraphError(f"check_graph: node {i} uses unknown op {node.op!r}.")
        for v in node.inputs:
            if id(v) not in defined:
                raise GraphError(f"check_graph: node {i} ({node.op}) reads %{v.name} before it is "
                                 "defined.")
        for attr in node.attrs.values():
            if isinstance(attr, Graph):
                check_graph(attr)
        avals = prim.abstract_eval([v.aval for v in node.inputs], node.attrs)
        got = [v.aval for v in node.outputs]
        if avals != got:
            raise GraphError(f"check_graph: node {i} ({node.op}) declares outputs {got} but its "
                             f"shape rule gives {avals}.")
        for v in node.outputs:
            define(v)
    for v in graph.outputs:
        if id(v) not in defined:
            raise GraphError(f"check_graph: graph output %{v.name} is never defined.")
    return graph
