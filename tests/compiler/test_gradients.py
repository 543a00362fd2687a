"""Every gradient rule against finite differences, and the backward graph through ONNX.

For each case, L = sum(f(x) * W) with random output weights W (a plain sum gives
every output the same weight, which hides transposition errors). The gradient
from autodiff, run by the numpy interpreter in float64, must match the central
difference of L along one random direction per input. The same backward graph
in float32 through ONNX Runtime must match the interpreter.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnxruntime as ort
import pytest

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.ops import elementwise as ew
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower


@dataclass
class GradCase:
    name: str
    fn: Callable
    shapes: list
    low: float = -2.0
    high: float = 2.0
    ints: dict = field(default_factory=dict)  # input index -> (high, shape) for integer inputs
    rtol: float = 1e-5
    eps: float = 1e-6  # a float32 step inside a float64 case needs a wider difference


CASES = [
    GradCase("negative", ops.negative, [(3, 4)]),
    GradCase("exp", ops.exp, [(3, 4)]),
    GradCase("log", ops.log, [(3, 4)], 0.5, 3.0),
    GradCase("sqrt", ops.sqrt, [(3, 4)], 0.5, 3.0),
    GradCase("abs", ops.abs, [(3, 4)], 0.2, 2.0),
    GradCase("sin", ew.sin, [(3, 4)]),
    GradCase("cos", ew.cos, [(3, 4)]),
    GradCase("tanh", ops.tanh, [(3, 4)]),
    GradCase("sigmoid", ops.sigmoid, [(3, 4)]),
    GradCase("erf", ew.erf, [(3, 4)]),
    GradCase("relu", ops.relu, [(3, 4)], 0.1, 2.0),
    GradCase("reciprocal", ops.reciprocal, [(3, 4)], 0.5, 2.0),
    GradCase("softplus", ops.softplus, [(3, 4)]),
    GradCase("softsign", ops.softsign, [(3, 4)]),
    GradCase("elu", lambda x: ops.elu(x, 0.7), [(3, 4)]),
    GradCase("leaky_relu", lambda x: ops.leaky_relu(x, 0.3), [(3, 4)]),
    GradCase("selu", ops.selu, [(3, 4)]),
    GradCase("add_broadcast", ops.add, [(3, 4), (4,)]),
    GradCase("subtract_broadcast", ops.subtract, [(3, 1), (3, 4)]),
    GradCase("multiply", ops.multiply, [(3, 4), (3, 4)]),
    GradCase("divide", ops.divide, [(3, 4), (1, 4)], 0.5, 2.0),
    GradCase("power", ops.power, [(3, 4), (3, 4)], 0.5, 2.0),
    GradCase("maximum", ops.maximum, [(3, 4), (3, 4)]),
    GradCase("minimum", ops.minimum, [(3, 4), (4,)]),
    GradCase("where", lambda a, b: ops.where(ops.greater(a, 0.0), a, b), [(3, 4), (3, 4)]),
    GradCase("square_fanout", lambda x: ops.multiply(ops.square(x), x), [(3, 4)]),
    GradCase("reduce_sum", lambda x: ops.sum(x, axis=1), [(3, 4, 2)]),
    GradCase("reduce_sum_keep", lambda x: ops.sum(x, axis=(0, 2), keepdims=True), [(3, 4, 2)]),
    GradCase("reduce_mean", lambda x: ops.mean(x, axis=-1), [(3, 4)]),
    GradCase("reduce_max", lambda x: ops.max(x, axis=0), [(3, 4)]),
    GradCase("reduce_min", lambda x: ops.min(x, axis=(0, 1)), [(3, 4)]),
    GradCase("reduce_prod", lambda x: ops.prod(x, axis=1), [(3, 4)], 0.5, 1.5),
    GradCase("matmul", ops.matmul, [(3, 4), (4, 5)]),
    GradCase("matmul_batched", ops.matmul, [(2, 3, 4), (4, 5)]),
    GradCase("softmax", lambda x: ops.softmax(x, axis=-1), [(3, 5)]),
    GradCase("log_softmax", lambda x: ops.log_softmax(x, axis=0), [(3, 5)]),
    GradCase("reshape", lambda x: ops.reshape(x, (None, 2, 6)), [(3, 4, 3)]),
    GradCase("transpose", lambda x: ops.transpose(x, (2, 0, 1)), [(3, 4, 2)]),
    GradCase("concat", lambda a, b: ops.concatenate([a, b], axis=1), [(3, 2), (3, 4)]),
    GradCase("slice_step", lambda x: x[:, 1:6:2], [(3, 7)]),
    GradCase("slice_negative_step", lambda x: x[:, ::-2], [(3, 6)]),
    GradCase("getitem_int", lambda x: x[:, 2], [(3, 5)]),
    GradCase("pad", lambda x: ops.pad(x, ((0, 0), (2, 1))), [(3, 4)]),
    GradCase("tile", lambda x: ops.tile(x, (1, 3)), [(3, 2)]),
    GradCase("repeat", lambda x: ops.repeat(x, 2, axis=1), [(3, 2)]),
    GradCase("expand_dims_squeeze", lambda x: ops.squeeze(ops.expand_dims(x, 1), 1), [(3, 4)]),
    GradCase("broadcast_to", lambda x: ops.broadcast_to(x, (3, 4)), [(1, 4)]),
    GradCase("cast_roundtrip", lambda x: ops.cast(ops.cast(x, "float32"), "float64"), [(3, 4)],
             rtol=1e-4, eps=1e-2),
    GradCase("gather_rows", lambda w, i: ops.take(w, i, axis=0), [(5, 3), None],
             ints={1: (5, (3, 4))}),
    GradCase("gather_axis1", lambda w, i: ops.take(w, i, axis=1), [(2, 5), None],
             ints={1: (5, (4,))}),
]


def make_inputs(case, rng, dtype):
    out = []
    for i, shape in enumerate(case.shapes):
        if i in case.ints:
            high, ishape = case.ints[i]
            out.append(rng.integers(0, high, size=ishape).astype(np.int64))
        else:
            out.append(rng.uniform(case.low, case.high, size=shape).astype(dtype))
    return out


def trace_loss(case, inputs, weights_seed=1):
    trace = Trace(case.name)
    with trace:
        syms = [trace.input(a.shape, a.dtype.name, f"x{i}") for i, a in enumerate(inputs)]
        y = case.fn(*syms)
        w = np.random.default_rng(weights_seed).uniform(0.5, 1.5, size=y.shape).astype(y.dtype)
        loss = ops.sum(ops.multiply(y, w))
        floats = [s for i, s in enumerate(syms) if i not in case.ints]
        grads = grad(loss, floats)
    trace.graph.outputs = [loss.value] + [g.value for g in grads]
    return trace.graph


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradient_matches_finite_differences(case):
    rng = np.random.default_rng(0)
    inputs = make_inputs(case, rng, np.float64)
    graph = trace_loss(case, inputs)
    outs = evaluate(graph, inputs)
    grads = outs[1:]
    float_idx = [i for i in range(len(inputs)) if i not in case.ints]
    eps = case.eps
    for k, i in enumerate(float_idx):
        direction = rng.standard_normal(inputs[i].shape)
        plus = [a.copy() for a in inputs]
        minus = [a.copy() for a in inputs]
        plus[i] = plus[i] + eps * direction
        minus[i] = minus[i] - eps * direction
        numeric = (evaluate(graph, plus)[0] - evaluate(graph, minus)[0]) / (2 * eps)
        analytic = float(np.sum(grads[k] * direction))
        assert grads[k].shape == inputs[i].shape
        np.testing.assert_allclose(analytic, numeric, rtol=case.rtol, atol=case.rtol / 10)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backward_graph_runs_on_onnxruntime(case):
    rng = np.random.default_rng(1)
    inputs = make_inputs(case, rng, np.float32)
    graph = trace_loss(case, inputs)
    reference = evaluate(graph, inputs)
    session = ort.InferenceSession(lower(graph).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {f"x{i}": a for i, a in enumerate(inputs)})
    for r, g in zip(reference, got):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


def test_gradient_of_unconnected_input_is_none():
    trace = Trace("g")
    with trace:
        a = trace.input((2,), "float32", "a")
        b = trace.input((2,), "float32", "b")
        loss = ops.sum(ops.square(a))
        ga, gb = grad(loss, [a, b])
    assert gb is None and ga is not None


def test_missing_rule_is_a_clear_error():
    from graphkeras.compiler.autodiff import GradientError
    from graphkeras.compiler.primitive import PRIMITIVES
    trace = Trace("g")
    with trace:
        x = trace.input((1, 4, 4, 1), "float32", "x")
        y = ops.sum(ops.max_pool(x, 2))
    if PRIMITIVES["max_pool"].vjp is not None:
        pytest.skip("max_pool has a rule now")
    with pytest.raises(GradientError, match="max_pool"):
        grad(y, [x])
