"""Specializing a graph to the shapes of its inputs (not an in-place pass: it copies).

A backend that needs sizes the graph leaves open — TVM unrolls a ``scan`` over its
known number of steps — compiles a copy per distinct input shape, as XLA compiles a
``jit_compile`` function per shape: the inputs get the given sizes and every node's
output shape is inferred again by its op's shape rule.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, graph_from_dict, graph_to_dict
from graphkeras.compiler.primitive import PRIMITIVES


def specialize(graph: Graph, shapes) -> Graph:
    """A copy of ``graph`` whose input ``i`` has shape ``shapes[i]`` (``None``: as it is; a
    ``None`` size in a shape stays unknown); a ValueError if a shape does not fit the input
    (another rank, or another size where the graph fixes one)."""
    copy = graph_from_dict(graph_to_dict(graph))
    for value, shape in zip(copy.inputs, shapes):
        if shape is None:
            continue
        shape = tuple(shape)
        if len(shape) != len(value.shape) or any(
                d is not None and s is not None and d != s for d, s in zip(value.shape, shape)):
            raise ValueError(f"input {value.name!r} has shape {value.shape}; it cannot be "
                             f"specialized to {shape}")
        value.shape = tuple(d if s is None else int(s) for d, s in zip(value.shape, shape))
    for node in copy.nodes:
        avals = PRIMITIVES[node.op].abstract_eval([v.aval for v in node.inputs], node.attrs)
        for value, aval in zip(node.outputs, avals):
            value.shape = tuple(aval.shape)
    return copy


def open_scan_lengths(graph: Graph) -> bool:
    """Whether a ``scan`` of ``graph`` runs over sequences of unknown length."""
    for node in graph.nodes:
        if node.op == "scan":
            n_carry, n_seq = node.attrs["n_carry"], node.attrs["n_seq"]
            steps = node.inputs[n_carry].shape[0] if n_seq else node.attrs["length"]
            if steps is None:
                return True
    return False
