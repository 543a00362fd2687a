"""Graph passes: each rule of each pass's docstring, and that results do not change."""
import numpy as np

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.passes import optimize
from graphkeras.compiler.passes.cse import CommonSubexpressions
from graphkeras.compiler.passes.dce import DeadCode
from graphkeras.compiler.passes.simplify import Simplify


def traced(fn, shape=(None, 3)):
    trace = Trace("g")
    with trace:
        x = trace.input(shape, "float32", "x")
        out = fn(x)
    trace.graph.outputs = [o.value for o in (out if isinstance(out, list) else [out])]
    return trace.graph


def ops_of(graph):
    return [n.op for n in graph.nodes]


def test_simplify_rule1_arithmetic_identities():
    g = traced(lambda x: ops.subtract(ops.add(ops.divide(ops.multiply(x, 1.0), 1.0), 0.0), 0.0))
    assert Simplify().run(g)
    DeadCode().run(g)
    assert ops_of(g) == [] and g.outputs[0] is g.inputs[0]


def test_simplify_rule1_keeps_broadcasting_constants():
    g = traced(lambda x: ops.multiply(x, np.ones((2, 1, 3), np.float32)))
    assert not Simplify().run(g)


def test_simplify_rules_2_to_5():
    g = traced(lambda x: ops.reshape(ops.transpose(ops.cast(ops.sum(x, axis=()), "float32"),
                                                   (0, 1)), (2, 3)), shape=(2, 3))
    Simplify().run(g)
    DeadCode().run(g)
    assert ops_of(g) == []


def test_cse_merges_repeats_but_not_random_draws():
    g = traced(lambda x: [ops.add(ops.exp(x), ops.exp(x)),
                          ops.add(ops.uniform_like(x), ops.uniform_like(x))])
    assert CommonSubexpressions().run(g)
    DeadCode().run(g)
    assert ops_of(g).count("exp") == 1 and ops_of(g).count("random_uniform_like") == 2


def test_dce_keeps_inputs_and_outputs():
    g = traced(lambda x: (ops.exp(x), ops.log(x))[0])
    assert DeadCode().run(g)
    assert ops_of(g) == ["exp"] and len(g.inputs) == 1


def test_optimize_does_not_change_results():
    g = traced(lambda x: ops.softmax(ops.multiply(ops.add(ops.exp(x), ops.exp(x)), 1.0)))
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    before = evaluate(g, [x])[0]
    optimize(g, verify=True)
    np.testing.assert_array_equal(evaluate(g, [x])[0], before)
