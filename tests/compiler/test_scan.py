"""The `scan` loop primitive: tracing, ONNX Loop lowering, gradients, passes, JSON."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphkeras as gk
from graphkeras.compiler import ops
from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.ir import graph_from_json, graph_to_json
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
from graphkeras.compiler.primitive import Trace
from graphkeras.compiler.verify import check_graph
from helpers import check_op


def run_onnx(graph, feeds):
    model = lower(graph)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip([i.name for i in model.graph.input], feeds))), model


def test_eager_scan_is_a_python_loop_with_the_traced_results():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)

    def body(carry, xs):
        total = ops.add(carry[0], xs[0])
        return [total], [ops.multiply(total, 2.0)]

    for reverse in (False, True):
        (last,), (ys,) = ops.scan(body, [np.zeros(3, np.float32)], [x], reverse=reverse)
        expected = np.cumsum(x[::-1] if reverse else x, axis=0)
        np.testing.assert_allclose(last, expected[-1])
        np.testing.assert_allclose(ys, 2 * (expected[::-1] if reverse else expected))
        check_op(lambda a: ops.scan(body, [ops.multiply(a[0], 0.0)], [a], reverse=reverse)[1][0],
                 [x], ref=lambda a: 2 * (np.cumsum(a[::-1], 0)[::-1] if reverse else np.cumsum(a, 0)))


def test_length_without_sequences_and_an_integer_carry():
    def fn(h, w):
        def body(carry, _):
            count, state = carry
            return [ops.add(count, np.int64(1)), ops.tanh(ops.matmul(state, w))], [count]
        (count, last), (counts,) = ops.scan(body, [np.int64(0), h], [], length=5)
        return last, ops.cast(count, h.dtype), ops.cast(counts, h.dtype)

    h = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(3, 3)).astype(np.float32) * 0.5
    r = check_op(fn, [h, w], grad=True)
    assert r.interpreter[1] == 5 and list(r.interpreter[2]) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="length"):
        t = Trace()
        with t:
            ops.scan(lambda c, x: (c, []), [t.input((2,), "float32", "a")], [])


def test_nested_scans_and_their_gradients():
    def fn(x, w, h0):  # x: (outer, inner, batch, features)
        def outer(carry, xs):
            def inner(c, ys):
                return [ops.tanh(ops.add(ops.matmul(ys[0], w), c[0]))], []
            (h,), _ = ops.scan(inner, carry, [xs[0]])
            return [h], [ops.sum(h, axis=-1)]
        (h,), (sums,) = ops.scan(outer, [h0], [x])
        return h, sums

    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 2, 4)).astype(np.float32)
    w = rng.normal(size=(4, 4)).astype(np.float32) * 0.5
    h0 = rng.normal(size=(2, 4)).astype(np.float32)
    check_op(fn, [x, w, h0], grad=True, expect_prims=("scan",))


def test_variables_assigned_in_the_body_are_carried():
    counter = gk.Variable(np.zeros((), np.float32), name="counter", trainable=False)
    weight = gk.Variable(np.ones((2,), np.float32), name="w")
    t = Trace("loop")
    with t:
        x = t.input((None, 2), "float32", "x")

        def body(carry, xs):
            counter.assign_add(1.0)
            return [], [ops.sum(ops.multiply(xs[0], weight))]
        _, (ys,) = ops.scan(body, [], [x])
    written = [var for var, _ in t.updates.values()]
    read = [var for var, _ in t.params.values()]
    assert written == [counter] and set(read) == {counter, weight}
    graph = t.graph
    graph.outputs = [ys.value] + [tensor.value for _, tensor in t.updates.values()]
    optimize(graph, FINAL_PIPELINE)
    check_graph(graph)
    feeds = [np.arange(6, dtype=np.float32).reshape(3, 2), np.array(4, np.float32), np.ones(2, np.float32)]
    feeds = dict(zip(["x", "counter", "w"], feeds))
    feeds = [feeds[v.name] for v in graph.inputs]
    ref = evaluate(graph, feeds)
    got, _ = run_onnx(graph, feeds)
    np.testing.assert_allclose(ref[0], [1, 5, 9])
    assert float(ref[1]) == 7.0
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a, b)


def _rnn_graph(with_grad):
    t = Trace("rnn")
    with t:
        x = t.input((None, None, 3), "float32", "x")
        w = t.input((3, 3), "float32", "w")

        def cell(c, xs):
            h = ops.tanh(ops.add(ops.matmul(xs[0], w), c[0]))
            return [h], [h]
        (last,), (hs,) = ops.scan(cell, [ops.multiply(x[0], 0.0)], [x])
        loss = ops.sum(hs)
        outs = [last, loss] + (grad(loss, [w]) if with_grad else [])
    t.graph.outputs = [o.value for o in outs]
    return t.graph


def test_residual_carries_are_dropped_when_nothing_differentiates():
    plain = optimize(_rnn_graph(False), FINAL_PIPELINE)
    scans = [n for n in plain.nodes if n.op == "scan"]
    assert len(scans) == 1 and scans[0].attrs["n_residual"] == 0
    assert len(scans[0].outputs) == 2  # the carry and the stacked outputs; no residuals
    differentiated = optimize(_rnn_graph(True), FINAL_PIPELINE)
    forward, reverse = [n for n in differentiated.nodes if n.op == "scan"]
    # the reverse step reads the forward step's tanh instead of replaying it, so it needs
    # neither the carries (dropped) nor a product of its own
    assert forward.attrs["n_residual"] == 0
    assert [n.op for n in reverse.attrs["body"].nodes].count("tanh") == 0
    assert any(v in reverse.inputs for v in forward.outputs[1:])
    check_graph(plain)
    check_graph(differentiated)


def test_json_round_trip_keeps_the_body():
    graph = optimize(_rnn_graph(True), FINAL_PIPELINE)
    again = graph_from_json(graph_to_json(graph))
    check_graph(again)
    assert graph_to_json(again) == graph_to_json(graph)
    x = np.random.default_rng(3).normal(size=(4, 2, 3)).astype(np.float32)
    w = np.eye(3, dtype=np.float32)
    for a, b in zip(evaluate(graph, [x, w]), evaluate(again, [x, w])):
        np.testing.assert_array_equal(a, b)
    got, _ = run_onnx(again, [x, w])
    for a, b in zip(evaluate(graph, [x, w]), got):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_body_that_changes_a_carry_dtype_is_refused():
    t = Trace()
    with t:
        x = t.input((None, 2), "float32", "x")
        with pytest.raises(ValueError, match="carry"):
            ops.scan(lambda c, xs: ([ops.cast(c[0], "int64")], []), [ops.sum(x)], [x])


@pytest.mark.parametrize("spe", [2, 8])
def test_steps_per_execution_is_one_onnx_loop(spe):
    """N steps are a Loop over one traced step: the graph does not grow with N."""
    sizes = {}
    for n in (1, spe):
        gk.utils.set_random_seed(0)
        model = gk.Sequential([gk.Input((4,)), gk.layers.Dense(3, activation="relu"),
                               gk.layers.Dropout(0.2), gk.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"], steps_per_execution=n)
        x = np.random.default_rng(0).normal(size=(4 * spe, 4)).astype(np.float32)
        model.fit(x, x[:, :2], batch_size=4, verbose=0)
        step = next(s for s in model._steps.values() if s.repeat == n)
        onnx_model = step.onnx_model()
        loops = [node for node in onnx_model.graph.node if node.op_type == "Loop"]
        assert len(loops) == (1 if n > 1 else 0)
        sizes[n] = sum(len(a.g.node) for node in loops for a in node.attribute if a.g) or \
            len(onnx_model.graph.node)
    assert sizes[spe] <= sizes[1] + 5
