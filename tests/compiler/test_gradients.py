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
from graphkeras.compiler.ops.conv import conv_input_grad_p, conv_kernel_grad_p
from graphkeras.compiler.ops.pool import max_pool_grad_p
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
    # convolutions: x (N, *spatial, Cin), kernel (*window, Cin/groups, Cout)
    GradCase("conv1d_valid", ops.conv, [(2, 7, 3), (3, 3, 4)]),
    GradCase("conv1d_stride2_remainder", lambda x, w: ops.conv(x, w, strides=2),
             [(2, 8, 3), (3, 3, 2)]),
    GradCase("conv2d_same_stride2_bias",
             lambda x, w, b: ops.conv(x, w, b, strides=2, padding="same"),
             [(2, 7, 6, 3), (3, 3, 3, 4), (4,)]),
    GradCase("conv2d_dilation2_same", lambda x, w: ops.conv(x, w, padding="same", dilation_rate=2),
             [(2, 7, 7, 2), (3, 2, 2, 3)]),
    GradCase("conv2d_dilation2_stride2_valid",
             lambda x, w: ops.conv(x, w, strides=(2, 1), dilation_rate=(1, 2)),
             [(1, 8, 9, 2), (2, 3, 2, 3)]),
    GradCase("conv2d_explicit_pads", lambda x, w: ops.conv(x, w, strides=2,
                                                           padding=((1, 2), (0, 1))),
             [(2, 6, 5, 2), (3, 2, 2, 3)]),
    GradCase("conv2d_many_channels_stride2_dilation2",  # another ONNX form of the kernel grad
             lambda x, w: ops.conv(x, w, strides=(2, 1), padding=((1, 0), (2, 1)),
                                   dilation_rate=(1, 2)),
             [(2, 7, 6, 8), (2, 3, 8, 3)]),
    GradCase("conv2d_groups2", lambda x, w, b: ops.conv(x, w, b, strides=(2, 1), groups=2),
             [(2, 6, 5, 4), (3, 2, 2, 6), (6,)]),
    GradCase("conv2d_depthwise_same", lambda x, w: ops.conv(x, w, padding="same", groups=3),
             [(2, 5, 6, 3), (3, 3, 1, 6)]),
    GradCase("conv1d_depthwise_stride2", lambda x, w, b: ops.conv(x, w, b, strides=2, groups=4),
             [(2, 9, 4), (3, 1, 4), (4,)]),
    # transposed convolutions: kernel (*window, Cout, Cin)
    GradCase("conv_transpose2d_valid_stride2", lambda x, w: ops.conv_transpose(x, w, strides=2),
             [(2, 3, 4, 3), (3, 3, 2, 3)]),
    GradCase("conv_transpose2d_same_stride2_outpad_bias",
             lambda x, w, b: ops.conv_transpose(x, w, b, strides=2, padding="same",
                                                output_padding=1),
             [(2, 3, 4, 2), (3, 3, 3, 2), (3,)]),
    GradCase("conv_transpose2d_valid_outpad",
             lambda x, w: ops.conv_transpose(x, w, strides=(2, 3), output_padding=(1, 2)),
             [(1, 3, 3, 2), (2, 2, 3, 2)]),
    GradCase("conv_transpose2d_many_channels_same",
             lambda x, w: ops.conv_transpose(x, w, strides=2, padding="same"),
             [(2, 3, 3, 2), (3, 3, 8, 2)]),
    GradCase("conv_transpose1d_same_dilation2",
             lambda x, w, b: ops.conv_transpose(x, w, b, padding="same", dilation_rate=2),
             [(2, 5, 3), (3, 2, 3), (2,)]),
    GradCase("conv_transpose1d_small_kernel_stride3",
             lambda x, w: ops.conv_transpose(x, w, strides=3, padding="same"),
             [(2, 4, 2), (2, 3, 2)]),
    # the gradient primitives, differentiated again
    GradCase("conv_input_grad",
             lambda g, w: conv_input_grad_p.bind(g, w, input_spatial=(8, 6), strides=(2, 1),
                                                    dilations=(1, 2), pads=((1, 1), (2, 0)),
                                                    groups=2),
             [(2, 5, 6, 4), (2, 2, 2, 4)]),
    GradCase("conv_kernel_grad",
             lambda x, g: conv_kernel_grad_p.bind(x, g, kernel=(2, 2), strides=(2, 1),
                                                     dilations=(1, 2), pads=((1, 1), (2, 0)),
                                                     groups=2),
             [(2, 8, 6, 4), (2, 5, 6, 4)]),
    # pooling (random floats: no ties, so max pool is differentiable at the inputs)
    GradCase("max_pool2d_valid", lambda x: ops.max_pool(x, 2), [(2, 6, 5, 3)]),
    GradCase("max_pool2d_same", lambda x: ops.max_pool(x, 2, padding="same"), [(2, 5, 5, 2)]),
    GradCase("max_pool2d_overlap", lambda x: ops.max_pool(x, 3, strides=2), [(2, 7, 8, 2)]),
    GradCase("max_pool2d_overlap_same", lambda x: ops.max_pool(x, (3, 2), strides=(2, 1),
                                                               padding="same"), [(2, 6, 5, 2)]),
    GradCase("max_pool1d_same", lambda x: ops.max_pool(x, 3, strides=2, padding="same"),
             [(2, 8, 3)]),
    GradCase("avg_pool2d_valid", lambda x: ops.average_pool(x, 3, strides=2), [(2, 7, 8, 2)]),
    GradCase("avg_pool2d_same", lambda x: ops.average_pool(x, 3, strides=2, padding="same"),
             [(2, 6, 5, 3)]),
    GradCase("avg_pool1d_same", lambda x: ops.average_pool(x, 2, padding="same"), [(2, 7, 3)]),
    GradCase("avg_pool1d_valid_stride1", lambda x: ops.average_pool(x, 3, strides=1), [(2, 6, 2)]),
    GradCase("resize_bilinear_up", lambda x: ops.resize_bilinear(x, (5, 7)), [(2, 3, 4, 2)]),
    GradCase("resize_bilinear_down", lambda x: ops.resize_bilinear(x, (3, 2)), [(2, 6, 5, 2)]),
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
    """max_pool_grad (the gradient of max_pool) has no rule of its own."""
    from graphkeras.compiler.autodiff import GradientError
    trace = Trace("g")
    with trace:
        g = trace.input((1, 2, 2, 1), "float32", "g")
        x = trace.input((1, 4, 4, 1), "float32", "x")
        y = ops.sum(max_pool_grad_p.bind(g, x, pool=(2, 2), strides=(2, 2), padding="valid"))
    assert max_pool_grad_p.vjp is None
    with pytest.raises(GradientError, match="max_pool_grad"):
        grad(y, [g])


def _run_both(graph, feeds):
    """The graph on the interpreter and on ONNX Runtime (float32)."""
    session = ort.InferenceSession(lower(graph).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return evaluate(graph, feeds), session.run(None, {v.name: a for v, a in
                                                      zip(graph.inputs, feeds)})


def _grad_graph(fn, shapes):
    """d/dx of sum(fn(x, ...) * w) with ``w`` a graph input (so shapes may hold None)."""
    trace = Trace("g")
    with trace:
        xs = [trace.input(s, "float32", f"x{i}") for i, s in enumerate(shapes)]
        y = fn(*xs)
        w = trace.input(y.shape, "float32", "w")
        grads = grad(ops.sum(ops.multiply(y, w)), xs)
    trace.graph.outputs = [g.value for g in grads]
    return trace.graph


@pytest.mark.parametrize("name, fn, shapes, traced", [
    ("conv_groups", lambda x, w: ops.conv(x, w, strides=2, padding="same", groups=2),
     [(3, 5, 6, 4), (3, 3, 2, 4)], [(None, 5, 6, 4), (3, 3, 2, 4)]),
    ("conv_transpose", lambda x, w: ops.conv_transpose(x, w, strides=2, padding="same"),
     [(3, 3, 2, 2), (3, 3, 2, 2)], [(None, 3, 2, 2), (3, 3, 2, 2)]),
    ("max_pool_unknown_sizes", lambda x: ops.max_pool(x, 3, strides=2), [(3, 7, 6, 2)],
     [(None, None, None, 2)]),
    ("avg_pool", lambda x: ops.average_pool(x, 3, strides=2, padding="same"), [(3, 7, 6, 2)],
     [(None, 7, 6, 2)]),
])
def test_gradients_with_unknown_batch_on_onnxruntime(name, fn, shapes, traced):
    """The lowerings reshape with a batch (and, for max_pool, spatial sizes) read at run time."""
    rng = np.random.default_rng(0)
    feeds = [rng.uniform(-2, 2, s).astype(np.float32) for s in shapes]
    w = rng.uniform(0.5, 1.5, fn(*feeds).shape).astype(np.float32)
    static, dynamic = _grad_graph(fn, shapes), _grad_graph(fn, traced)
    expected = evaluate(static, feeds + [w])
    for got in _run_both(dynamic, feeds + [w]):
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def test_max_pool_gradient_goes_to_the_first_max_of_each_window():
    """Ties (as TensorFlow's MaxPoolGrad): the first maximum in row-major window order takes
    the gradient; overlapping windows add up."""
    graph = _grad_graph(lambda a: ops.max_pool(a, 2, strides=1), [(1, 3, 3, 1)])
    w = np.array([[1, 2], [4, 8]], np.float32).reshape(1, 2, 2, 1)
    for x, expected in [([[1, 1, 0], [1, 1, 1], [0, 1, 1]], [[1, 2, 0], [4, 8, 0], [0, 0, 0]]),
                        ([[1, 1, 0], [1, 2, 1], [0, 1, 1]], [[0, 0, 0], [0, 15, 0], [0, 0, 0]])]:
        x = np.array(x, np.float32).reshape(1, 3, 3, 1)
        for (got,) in _run_both(graph, [x, w]):
            np.testing.assert_array_equal(got, np.array(expected, np.float32).reshape(x.shape))


@pytest.mark.parametrize("name, fn", [
    ("conv", lambda x: ops.conv(x, np.ones((3, 3, 2, 2), np.float32))),
    ("conv_transpose", lambda x: ops.conv_transpose(x, np.ones((3, 3, 2, 2), np.float32))),
    ("avg_pool", lambda x: ops.average_pool(x, 2)),
    ("resize_bilinear", lambda x: ops.resize_bilinear(x, (4, 4))),
])
def test_gradient_needs_known_spatial_sizes(name, fn):
    trace = Trace("g")
    with trace:
        x = trace.input((None, None, None, 2), "float32", "x")
        loss = ops.sum(fn(x))
        with pytest.raises(ValueError, match=f"gradient of '{name}' needs known spatial"):
            grad(loss, [x])
