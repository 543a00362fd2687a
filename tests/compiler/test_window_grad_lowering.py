"""The ONNX lowerings of the window gradients on their fast paths, and the pass that moves
a mask before a max-pool gradient: ONNX Runtime == numpy interpreter, exactly where no sum
is reordered, on inputs full of ties."""
import numpy as np
import onnxruntime as ort
import pytest

from graphkeras.compiler import Trace, ops
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.ops.conv import conv_input_grad_p, conv_kernel_grad_p
from graphkeras.compiler.ops.pool import max_pool_grad_p
from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
from graphkeras.compiler.passes.pool_mask import MaskBeforeMaxPoolGrad


def traced(fn, *shapes):
    """``fn`` traced on float32 inputs of these shapes (None: unknown)."""
    trace = Trace("g")
    with trace:
        xs = [trace.input(tuple(s), "float32", f"x{i}") for i, s in enumerate(shapes)]
        out = fn(*xs)
    trace.graph.outputs = [o.value for o in (out if isinstance(out, list) else [out])]
    return trace.graph


def run_onnx(graph, arrays):
    model = lower(graph)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays))), model


def ties(rng, shape):
    """Values on a coarse grid, a third of them zero: many windows with repeated maxima."""
    x = rng.integers(-2, 3, shape).astype(np.float32)
    return np.where(rng.random(shape) < 0.3, np.float32(0), x)


@pytest.mark.parametrize("spatial", [(6, 8), (7, 5), (2, 2), (8,), (9,)])
def test_max_pool_grad_pairs_is_exact(spatial):
    rng = np.random.default_rng(len(spatial) * 10 + spatial[0])
    nd = len(spatial)
    x = ties(rng, (3,) + spatial + (4,))
    out = tuple(n // 2 for n in spatial)
    g = rng.standard_normal((3,) + out + (4,)).astype(np.float32)
    graph = traced(lambda g_, x_: max_pool_grad_p.bind(g_, x_, pool=(2,) * nd, strides=(2,) * nd,
                                                       padding="valid"), (None,) + g.shape[1:], (None,) + x.shape[1:])
    (got,), model = run_onnx(graph, [g, x])
    ops_used = {n.op_type for n in model.graph.node}
    assert "GreaterOrEqual" in ops_used and "CumSum" not in ops_used  # the pairs lowering
    np.testing.assert_array_equal(got, evaluate(graph, [g, x])[0])


def _pool_relu_grad(z, g):
    """d/dz of sum(g * max_pool(relu(z))), written as the traced gradient writes it."""
    x = ops.relu(z)
    dx = max_pool_grad_p.bind(g, x, pool=(2, 2), strides=(2, 2), padding="valid")
    return ops.multiply(dx, ops.cast(ops.greater(x, 0.0), "float32"))


def test_mask_moves_before_max_pool_grad():
    rng = np.random.default_rng(0)
    z, g = ties(rng, (2, 6, 6, 3)), rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    trace = Trace("g")
    with trace:
        zt = trace.input((None, 6, 6, 3), "float32", "z")
        gt = trace.input((None, 3, 3, 3), "float32", "g")
        trace.graph.outputs = [_pool_relu_grad(zt, gt).value]
    graph = trace.graph
    before = evaluate(graph, [z, g])[0]
    optimize(graph, FINAL_PIPELINE, verify=True)
    grad = graph.outputs[0].producer
    assert grad.op == "max_pool_grad" and grad.inputs[0].producer.op == "multiply"
    # the mask is now computed on the pooled grid
    assert grad.inputs[0].shape == (None, 3, 3, 3)
    assert [n.op for n in graph.nodes].count("greater") == 1
    np.testing.assert_array_equal(evaluate(graph, [z, g])[0], before)
    (got,), _ = run_onnx(graph, [z, g])
    np.testing.assert_array_equal(got, before)


def test_mask_stays_when_the_max_pool_grad_is_read_elsewhere():
    trace = Trace("g")
    with trace:
        zt = trace.input((None, 4, 4, 2), "float32", "z")
        gt = trace.input((None, 2, 2, 2), "float32", "g")
        x = ops.relu(zt)
        dx = max_pool_grad_p.bind(gt, x, pool=(2, 2), strides=(2, 2), padding="valid")
        masked = ops.multiply(dx, ops.cast(ops.greater(x, 0.0), "float32"))
        trace.graph.outputs = [masked.value, dx.value]
    assert not MaskBeforeMaxPoolGrad().run(trace.graph)


@pytest.mark.parametrize("cin,strides,padding,dilations", [
    (1, (1, 1), ((0, 0), (0, 0)), (1, 1)),
    (3, (2, 1), ((1, 1), (0, 1)), (1, 1)),
    (2, (1, 1), ((0, 0), (0, 0)), (2, 1)),
])
def test_conv_kernel_grad_with_few_channels(cin, strides, padding, dilations):
    """Few input channels: the stacked (im2col) product."""
    rng = np.random.default_rng(cin)
    x = rng.standard_normal((2, 9, 8, cin)).astype(np.float32)
    kernel = (3, 2)
    out = [(n + lo + hi - (k - 1) * d - 1) // s + 1 for n, k, s, d, (lo, hi) in
           zip((9, 8), kernel, strides, dilations, padding)]
    g = rng.standard_normal((2, *out, 5)).astype(np.float32)
    graph = traced(lambda x_, g_: conv_kernel_grad_p.bind(
        x_, g_, kernel=kernel, strides=strides, dilations=dilations, pads=padding, groups=1),
        (None,) + x.shape[1:], (None,) + g.shape[1:])
    (got,), model = run_onnx(graph, [x, g])
    assert "Conv" not in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(got, evaluate(graph, [x, g])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides,padding,groups", [((1, 1), ((0, 0), (0, 0)), 1),
                                                   ((1, 1), ((1, 1), (1, 1)), 2),
                                                   ((2, 2), ((0, 1), (1, 0)), 1)])
def test_conv_input_grad_as_conv_transpose(strides, padding, groups):
    rng = np.random.default_rng(groups)
    spatial, kernel, cin, cout = (7, 6), (3, 3), 4, 6
    out = [(n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip(spatial, kernel, strides, padding)]
    g = rng.standard_normal((2, *out, cout)).astype(np.float32)
    w = rng.standard_normal(kernel + (cin // groups, cout)).astype(np.float32)
    graph = traced(lambda g_, w_: conv_input_grad_p.bind(
        g_, w_, input_spatial=spatial, strides=strides, dilations=(1, 1), pads=padding,
        groups=groups), (None,) + g.shape[1:], w.shape)
    (got,), model = run_onnx(graph, [g, w])
    assert "ConvTranspose" in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(got, evaluate(graph, [g, w])[0], rtol=1e-5, atol=1e-5)


def test_mask_moves_through_a_chain_of_masks():
    """A product of the rewritten gradient with another mask (a batch norm's, a second
    relu's) is rewritten again, or left alone, without losing track of readers."""
    rng = np.random.default_rng(1)
    z, g = ties(rng, (2, 4, 4, 3)), rng.standard_normal((2, 2, 2, 3)).astype(np.float32)
    scale = rng.standard_normal((3,)).astype(np.float32)
    trace = Trace("g")
    with trace:
        zt = trace.input((None, 4, 4, 3), "float32", "z")
        gt = trace.input((None, 2, 2, 3), "float32", "g")
        x = ops.relu(zt)
        dx = max_pool_grad_p.bind(gt, x, pool=(2, 2), strides=(2, 2), padding="valid")
        dx = ops.multiply(dx, ops.cast(ops.greater(x, 0.0), "float32"))
        dx = ops.multiply(dx, ops.cast(ops.less(x, 1.0), "float32"))
        trace.graph.outputs = [ops.multiply(dx, scale).value]
    graph = trace.graph
    before = evaluate(graph, [z, g])[0]
    optimize(graph, FINAL_PIPELINE, verify=True)
    assert [n.op for n in graph.nodes].count("max_pool_grad") == 1
    assert [n.op for n in graph.nodes].count("max_pool") == 1  # both masks on the pooled grid
    np.testing.assert_array_equal(evaluate(graph, [z, g])[0], before)


def _pool_kernels(model):
    return [len(next(a.ints for a in n.attribute if a.name == "kernel_shape"))
            for n in model.graph.node if n.op_type == "MaxPool"]


def test_max_pool_runs_channels_last_where_its_gradient_reads_x():
    rng = np.random.default_rng(2)
    x = ties(rng, (2, 6, 4, 3))
    g = rng.standard_normal((2, 3, 2, 3)).astype(np.float32)

    def step(x_, g_):
        y = ops.max_pool(x_, 2)
        return [y, max_pool_grad_p.bind(g_, x_, pool=(2, 2), strides=(2, 2), padding="valid")]
    graph = traced(step, (None, 6, 4, 3), (None, 3, 2, 3))
    got, model = run_onnx(graph, [x, g])
    assert _pool_kernels(model) == [3]  # (N, 1, H, W, C) with window (2, 2, 1)
    for a, b in zip(got, evaluate(graph, [x, g])):
        np.testing.assert_array_equal(a, b)
    # inference: channels first, so ONNX Runtime keeps its blocked layout between convolutions
    graph = traced(lambda x_: ops.max_pool(x_, 2), (None, 6, 4, 3))
    (got,), model = run_onnx(graph, [x])
    assert _pool_kernels(model) == [2]
    np.testing.assert_array_equal(got, evaluate(graph, [x])[0])


def test_activation_moves_before_the_channels_last_transpose():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    graph = traced(lambda x_, w_: ops.relu(ops.conv(x_, w_)), (None, 5, 5, 2), w.shape)
    (got,), model = run_onnx(graph, [x, w])
    kinds = [n.op_type for n in model.graph.node]
    assert kinds.index("Conv") < kinds.index("Relu") < kinds.index("Transpose", kinds.index("Conv"))
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    assert list(relu.input) == list(conv.output)  # Conv -> Relu: ONNX Runtime fuses them
    np.testing.assert_allclose(got, evaluate(graph, [x, w])[0], rtol=1e-5, atol=1e-5)


def test_conv_kernel_grad_stacks_only_small_im2cols(monkeypatch):
    import sys
    monkeypatch.setattr(sys.modules["graphkeras.compiler.ops.conv"], "_STACK_LIMIT", 100)  # 3*3*4*4*1 floats per example > 100
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((2, 6, 6, 1)).astype(np.float32), \
        rng.standard_normal((2, 4, 4, 5)).astype(np.float32)
    graph = traced(lambda x_, g_: conv_kernel_grad_p.bind(
        x_, g_, kernel=(3, 3), strides=(1, 1), dilations=(1, 1), pads=((0, 0), (0, 0)), groups=1),
        (None, 6, 6, 1), (None, 4, 4, 5))
    (got,), model = run_onnx(graph, [x, g])
    assert "Conv" in {n.op_type for n in model.graph.node}  # the swapped convolution
    np.testing.assert_allclose(got, evaluate(graph, [x, g])[0], rtol=1e-5, atol=1e-5)
