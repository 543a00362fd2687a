"""A sum of zero-padded pieces that sit side by side becomes one concatenation.

    add(pad(a, [lo, hi] on axis k), pad(b, [lo + len(a), ...] on axis k))
        -> pad(concat([a, b], axis=k), [lo, ...] on axis k)

The gradient of slicing a tensor into pieces (an RNN cell's gates, a ``split``) is the
sum of each piece's gradient padded back to the whole: four pads and three adds over the
whole tensor per LSTM step, where one concatenation of the pieces does. Pads only along
``k``, with zeros, and the two windows must touch; a chain of adds folds piece by piece
(concatenations of concatenations on one axis are flattened), and a pad of nothing is left
out.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, Node, Value
from graphkeras.compiler.passes._nodes import make_node


def _window(value):
    """``(piece, axis, lo)`` for a value made by a zero pad along one axis, else None."""
    node = value.producer
    if node is None or node.op != "pad" or node.attrs["mode"] != "constant" or \
            float(node.attrs["constant_value"]) != 0.0:
        return None
    padded = [k for k, (lo, hi) in enumerate(node.attrs["pads"]) if lo or hi]
    if len(padded) != 1:
        return None
    k = padded[0]
    piece = node.inputs[0]
    if piece.shape[k] is None:
        return None
    return piece, k, node.attrs["pads"][k][0]


class SumOfPadsToConcat:
    def run(self, graph: Graph) -> bool:
        mapping: dict[int, Value] = {}
        nodes: list[Node] = []

        def add(op, inputs, attrs, hint):
            nodes.append(make_node(graph, op, inputs, attrs, hint))
            return nodes[-1].outputs[0]

        def pieces(value, axis):
            node = value.producer
            if node is not None and node.op == "concat" and node.attrs["axis"] == axis:
                return list(node.inputs)
            return [value]

        for node in graph.nodes:
            if any(id(v) in mapping for v in node.inputs):
                node.inputs = [mapping.get(id(v), v) for v in node.inputs]
            nodes.append(node)
            if node.op != "add":
                continue
            x, y = node.inputs
            wx, wy = _window(x), _window(y)
            out = node.outputs[0]
            if wx is None or wy is None or wx[1] != wy[1] or x.dtype != y.dtype or \
                    tuple(x.shape) != tuple(y.shape) or tuple(out.shape) != tuple(x.shape):
                continue
            (a, k, lo_a), (b, _, lo_b) = sorted([wx, wy], key=lambda w: w[2])
            if lo_a + a.shape[k] != lo_b:
                continue
            joined = add("concat", pieces(a, k) + pieces(b, k), {"axis": k}, "concat")
            hi = out.shape[k] - lo_a - joined.shape[k]
            if lo_a or hi:
                pads = tuple((lo_a, hi) if i == k else (0, 0) for i in range(len(out.shape)))
                joined = add("pad", [joined], {"pads": pads, "mode": "constant",
                                               "constant_value": 0.0}, "pad")
            mapping[id(out)] = joined
        if not mapping:
            return False
        graph.nodes = nodes
        graph.outputs = [mapping.get(id(v), v) for v in graph.outputs]
        return True
