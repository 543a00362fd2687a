"""The reference interpreter: runs a graph node by node on the numpy kernels.

This is ``run_eagerly=True`` and the numerical truth the compiled paths are
tested against.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import Graph
from graphkeras.compiler.primitive import PRIMITIVES


def evaluate(graph: Graph, feeds) -> list[np.ndarray]:
    """Run ``graph`` on ``feeds`` (a list in ``graph.inputs`` order, or a dict by name)."""
    if isinstance(feeds, dict):
        feeds = [feeds[v.name] for v in graph.inputs]
    if len(feeds) != len(graph.inputs):
        raise ValueError(f"Graph {graph.name!r} takes {len(graph.inputs)} inputs; "
                         f"received {len(feeds)}.")
    env = {id(v): np.asarray(x) for v, x in zip(graph.inputs, feeds)}
    last_use = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[id(v)] = i
    keep = {id(v) for v in graph.outputs}
    for i, node in enumerate(graph.nodes):
        prim = PRIMITIVES[node.op]
        out = prim.impl(*[env[id(v)] for v in node.inputs], **node.attrs)
        outs = out if prim.multiple_results else [out]
        for v, x in zip(node.outputs, outs):
            env[id(v)] = np.asarray(x)
        for v in node.inputs:  # free what no later node reads
            if last_use.get(id(v)) == i and id(v) not in keep:
                env.pop(id(v), None)
    return [env[id(v)] for v in graph.outputs]
