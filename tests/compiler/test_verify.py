"""check_graph: each rule of its docstring, on a small traced graph."""
import numpy as np
import pytest

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.ir import Value
from graphkeras.compiler.verify import GraphError, check_graph


def small_graph():
    trace = Trace("g")
    with trace:
        x = trace.input((None, 3), "float32", "x")
        y = ops.relu(ops.matmul(x, np.ones((3, 2), np.float32)))
    trace.graph.outputs = [y.value]
    return trace.graph


def test_valid_graph_passes():
    assert check_graph(small_graph()) is not None


def test_rule1_unknown_op():
    g = small_graph()
    g.nodes[-1].op = "no_such_op"
    with pytest.raises(GraphError, match="unknown op 'no_such_op'"):
        check_graph(g)


def test_rule2_topological_order():
    g = small_graph()
    g.nodes.reverse()
    with pytest.raises(GraphError, match="before it is defined"):
        check_graph(g)


def test_rule3_unique_names():
    g = small_graph()
    g.nodes[-1].outputs[0].name = "x"
    with pytest.raises(GraphError, match="defined twice"):
        check_graph(g)


def test_rule4_shapes_follow_the_shape_rule():
    g = small_graph()
    g.nodes[-1].outputs[0].shape = (None, 5)
    with pytest.raises(GraphError, match="shape rule gives"):
        check_graph(g)


def test_rule5_outputs_defined():
    g = small_graph()
    g.outputs = [Value((1,), "float32", "ghost")]
    with pytest.raises(GraphError, match="never defined"):
        check_graph(g)

