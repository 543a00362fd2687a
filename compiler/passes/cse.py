"""Common subexpressions: a node computing what an earlier node already computed
(same op, same inputs, same attributes; constants compared by value) reuses it.
Random ops are never merged: two draws are two draws."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import Graph

NEVER_MERGE = {"random_uniform_like", "random_normal_like"}


def _attr_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes()) if v.size <= 64 else ("id", id(v))
    if isinstance(v, (list, tuple)):
        return tuple(_attr_key(x) for x in v)
    return v


class CommonSubexpressions:
    def run(self, graph: Graph) -> bool:
        from graphkeras.compiler.passes import rewrite
        seen = {}

        def decide(node):
            if node.op in NEVER_MERGE:
                return None
            key = (node.op, tuple(id(v) for v in node.inputs),
                   tuple(sorted((k, _attr_key(a)) for k, a in node.attrs.items())))
            first = seen.setdefault(key, node)
            return None if first is node else list(first.outputs)

        return rewrite(graph, decide)
