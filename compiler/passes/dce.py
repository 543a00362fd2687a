"""Dead code: nodes none of whose outputs is read (by a later node or as a graph
output) are removed. Graph inputs always stay: callers bind them by position."""
from __future__ import annotations

from graphkeras.compiler.ir import Graph


class DeadCode:
    def run(self, graph: Graph) -> bool:
        live = {id(v) for v in graph.outputs}
        kept = []
        for node in reversed(graph.nodes):
            if any(id(v) in live for v in node.outputs):
                kept.append(node)
                live.update(id(v) for v in node.inputs)
        changed = len(kept) != len(graph.nodes)
        graph.nodes = kept[::-1]
        return changed
