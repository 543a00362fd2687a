"""The passes that shape a loop's gradient: the reverse step reads the forward step's costly
values (ScanResiduals), invariant work leaves the loop (LoopInvariants), a per-step sum of
products becomes one product (ScanProductSums), unread loop inputs go. Each keeps results
equal: interpreter before, interpreter after, ONNX Runtime after."""
import copy

import numpy as np
import onnxruntime as ort
import pytest

from graphkeras.compiler import ops
from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.passes import FINAL_PIPELINE, PIPELINE, optimize
from graphkeras.compiler.ops.random import uniform_like
from graphkeras.compiler.passes.loop_invariants import LoopInvariants
from graphkeras.compiler.passes.scan_residuals import ScanResiduals
from graphkeras.compiler.passes.scan_sums import ScanProductSums
from graphkeras.compiler.primitive import Trace
from graphkeras.compiler.verify import check_graph
from helpers import check_op

UNITS, FEATURES = 4, 3


def lstm_like_graph(reverse=False):
    """A gated cell over x (T, B, F): gates = x_t @ w + h @ u, sigmoid gates, tanh state;
    outputs the loss and its gradients with respect to w, u, x and the initial state."""
    t = Trace("cell")
    with t:
        x = t.input((None, None, FEATURES), "float32", "x")
        w = t.input((FEATURES, 3 * UNITS), "float32", "w")
        u = t.input((UNITS, 3 * UNITS), "float32", "u")
        h0 = t.input((None, UNITS), "float32", "h0")
        projected = ops.matmul(x, w)

        def cell(carry, xs):
            h, c = carry
            gates = ops.sigmoid(ops.add(xs[0], ops.matmul(h, u)))
            i = ops.slice_axes(gates, [0], [UNITS], [1])
            f = ops.slice_axes(gates, [UNITS], [2 * UNITS], [1])
            o = ops.slice_axes(gates, [2 * UNITS], [3 * UNITS], [1])
            c = ops.add(ops.multiply(f, c), ops.multiply(i, ops.tanh(h)))
            h = ops.multiply(o, ops.tanh(c))
            return [h, c], [h]
        (last, _), (hs,) = ops.scan(cell, [h0, ops.multiply(h0, 0.5)], [projected],
                                    reverse=reverse)
        loss = ops.add(ops.sum(ops.multiply(hs, hs)), ops.sum(last))
        outs = [loss] + grad(loss, [w, u, x, h0])
    t.graph.outputs = [o.value for o in outs]
    return t.graph


def feeds(seed=0, steps=5, batch=2):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(steps, batch, FEATURES)).astype(np.float32),
            rng.normal(size=(FEATURES, 3 * UNITS)).astype(np.float32) * 0.5,
            rng.normal(size=(UNITS, 3 * UNITS)).astype(np.float32) * 0.5,
            rng.normal(size=(batch, UNITS)).astype(np.float32)]


def run_onnx(graph, inputs):
    model = lower(graph)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip([i.name for i in model.graph.input], inputs)))


def scans(graph):
    return [n for n in graph.nodes if n.op == "scan"]


def body_ops(node):
    return [n.op for n in node.attrs["body"].nodes]


@pytest.mark.parametrize("reverse", [False, True])
def test_final_pipeline_keeps_every_gradient(reverse):
    raw = lstm_like_graph(reverse)
    final = optimize(copy.deepcopy(raw), FINAL_PIPELINE, verify=True)
    check_graph(final)
    for seed, steps in ((0, 5), (1, 1), (2, 7)):
        inputs = feeds(seed, steps)
        want = evaluate(raw, inputs)
        for got in (evaluate(final, inputs), run_onnx(final, inputs)):
            for a, b in zip(want, got):
                np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_reverse_step_reads_saved_values_instead_of_replaying():
    graph = optimize(lstm_like_graph(), PIPELINE)
    forward, back = scans(graph)
    assert body_ops(back).count("matmul") == 3  # replayed h @ u, then g @ u^T and h^T @ g
    assert ScanResiduals().run(graph)
    forward, back = scans(graph)
    ops_back = body_ops(back)
    # the product and both transcendental functions now come from the forward loop
    assert "sigmoid" not in ops_back and "tanh" not in ops_back
    assert ops_back.count("matmul") == 2
    saved = [v for v in forward.outputs if v in back.inputs]
    assert len(saved) >= 3  # sigmoid gates, tanh(h), tanh(c) (and carries the gradient reads)
    check_graph(graph)
    assert not ScanResiduals().run(graph)  # nothing left to save


def test_invariant_transpose_leaves_the_reverse_loop():
    graph = optimize(lstm_like_graph(), PIPELINE)
    back = scans(graph)[1]
    assert "transpose" in body_ops(back)  # u^T at every step
    n_before = len(back.inputs)
    assert LoopInvariants().run(graph)
    back = scans(graph)[1]
    # the per-step transposes left are of per-step values (h^T), not of u
    u_reads = [n for n in back.attrs["body"].nodes if n.op == "transpose"
               and n.inputs[0] in back.attrs["body"].inputs[back.attrs["n_carry"]
                                                            + back.attrs["n_seq"]:]]
    assert not u_reads and len(back.inputs) > n_before
    check_graph(graph)


def test_random_draws_stay_in_the_loop():
    t = Trace("draws")
    with t:
        x = t.input((None, 3), "float32", "x")
        k = t.input((3,), "float32", "k")

        def body(carry, xs):
            noise = uniform_like(k, seed=1)
            return [ops.add(carry[0], ops.multiply(xs[0], noise))], []
        (total,), _ = ops.scan(body, [ops.multiply(k, 0.0)], [x])
    t.graph.outputs = [total.value]
    graph = optimize(t.graph, PIPELINE)
    assert not LoopInvariants().run(graph)


def test_per_step_products_become_one_product_after_the_loop():
    graph = optimize(lstm_like_graph(), PIPELINE)
    back = scans(graph)[1]
    n_carry = back.attrs["n_carry"]
    assert ScanProductSums().run(graph)
    back = scans(graph)[1]
    assert back.attrs["n_carry"] == n_carry - 1  # u's gradient is no longer carried
    after = graph.nodes[graph.nodes.index(back) + 1:]
    assert any(n.op == "matmul" and n.outputs[0].shape == (UNITS, 3 * UNITS) for n in after)
    check_graph(graph)


def test_a_sum_read_inside_the_loop_stays_carried():
    t = Trace("read")
    with t:
        x = t.input((None, 2, 3), "float32", "x")
        d = t.input((None, 2, 4), "float32", "d")

        def body(carry, xs):
            total = ops.add(carry[0], ops.matmul(ops.transpose(xs[0], (1, 0)), xs[1]))
            return [total], [ops.sum(total)]  # the running sum is read at every step
        (final,), (sums,) = ops.scan(body, [np.zeros((3, 4), np.float32)], [x, d],
                                     residuals=False)
    t.graph.outputs = [final.value, sums.value]
    graph = optimize(t.graph, PIPELINE)
    assert not ScanProductSums().run(graph)


def test_unread_sequences_are_dropped_but_one_stays():
    graph = optimize(lstm_like_graph(), FINAL_PIPELINE)
    back = scans(graph)[1]
    a = back.attrs
    body = a["body"]
    read = {id(v) for n in body.nodes for v in n.inputs} | {id(v) for v in body.outputs}
    assert all(id(v) in read for v in body.inputs[a["n_carry"]:])
    assert a["n_seq"] >= 1


def test_stacked_matrix_product_gradient_is_one_product():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 5)).astype(np.float32)
    w = rng.normal(size=(5, 2)).astype(np.float32)
    check_op(lambda a, b: ops.matmul(a, b), [x, w], ref=lambda a, b: a @ b, grad=True)
    t = Trace("dense")
    with t:
        a = t.input((None, None, 5), "float32", "a")
        b = t.input((5, 2), "float32", "b")
        (gb,) = grad(ops.sum(ops.matmul(a, b)), [b])
    t.graph.outputs = [gb.value]
    graph = optimize(t.graph, PIPELINE)
    products = [n for n in graph.nodes if n.op == "matmul" and n.outputs[0].shape == (5, 2)]
    assert [len(n.inputs[0].shape) for n in products] == [2]  # (5, B*T) @ (B*T, 2)
    assert not any(n.op == "reduce_sum" for n in graph.nodes)
