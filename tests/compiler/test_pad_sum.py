"""SumOfPadsToConcat: the gradient of slicing a tensor into touching pieces becomes one
concatenation instead of a pad per piece and an add per pair; results unchanged."""
import numpy as np

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.passes import optimize


def gate_graph(pieces, order=None):
    """x -> slice into ``pieces`` along axis 1 -> a different function per piece -> sum;
    the graph of the gradient with respect to x (``order``: the order the pieces are
    summed in)."""
    trace = Trace("gates")
    with trace:
        x = trace.input((None, sum(pieces)), "float32", "x")
        lo, parts = 0, []
        for i, n in enumerate(pieces):
            part = ops.slice_axes(x, [lo], [lo + n], [1])
            parts.append(ops.sum(ops.multiply(ops.tanh(part), float(i + 1))))
            lo += n
        order = order or range(len(pieces))
        total = parts[order[0]]
        for i in order[1:]:
            total = ops.add(total, parts[i])
        (dx,) = grad(total, [x])
    graph = trace.graph
    graph.outputs = [dx.value]
    return graph


def ops_of(graph):
    return [n.op for n in graph.nodes]


def reference(pieces, x):
    scale = np.concatenate([np.full(n, i + 1.0) for i, n in enumerate(pieces)])
    return (1 - np.tanh(x) ** 2) * scale


def test_touching_pieces_become_one_concat():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12)).astype(np.float32)
    for pieces, order in (([3, 3, 3, 3], None), ([2, 5, 5], [2, 0, 1]), ([4, 8], [1, 0])):
        graph = optimize(gate_graph(pieces, order))
        assert "pad" not in ops_of(graph), ops_of(graph)
        assert ops_of(graph).count("concat") == 1
        np.testing.assert_allclose(evaluate(graph, [x])[0], reference(pieces, x), rtol=1e-5,
                                   atol=1e-6)


def test_pieces_not_covering_the_tensor_are_padded_once():
    """Touching pieces [1:4) and [4:7) of 10: one concatenation, padded once to the whole."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 10)).astype(np.float32)
    trace = Trace("gap")
    with trace:
        t = trace.input((None, 10), "float32", "x")
        a = ops.sum(ops.tanh(ops.slice_axes(t, [1], [4], [1])))
        b = ops.sum(ops.tanh(ops.slice_axes(t, [4], [7], [1])))
        (dx,) = grad(ops.add(a, b), [t])
    graph = trace.graph
    graph.outputs = [dx.value]
    graph = optimize(graph)
    want = 1 - np.tanh(x) ** 2
    want[:, [0, 7, 8, 9]] = 0
    np.testing.assert_allclose(evaluate(graph, [x])[0], want, rtol=1e-5, atol=1e-6)
    assert ops_of(graph).count("pad") == 1 and ops_of(graph).count("concat") == 1
