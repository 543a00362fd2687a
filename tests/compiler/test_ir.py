"""The IR: JSON round trip, repr, shape rules, and the reference interpreter.

No ONNX Runtime here: these are the compiler's own, pure-numpy parts.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from graphkeras.compiler import PRIMITIVES, AVal, Graph, Primitive, Trace, ops
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.ir import Value, canonical_dtype, graph_from_json, graph_to_json
from graphkeras.compiler.ops._rules import broadcast_shapes, normalize_axis


def _graph(fn, *specs, name="g"):
    """Trace ``fn`` on inputs ``(shape, dtype)``; returns (graph, output tensors)."""
    t = Trace(name)
    with t:
        xs = [t.input(shape, dtype, f"x{i}") for i, (shape, dtype) in enumerate(specs)]
        outs = fn(*xs)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    t.graph.outputs = [o.value for o in outs]
    return t.graph, outs


def _assert_same_arrays(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit: NaN payloads, -0.0


# ------------------------------------------------------------------ JSON
SPECIAL_F32 = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.4028235e38, -1.5],
                       np.float32)
ATTR_ARRAYS = {
    "f32_special": SPECIAL_F32.reshape(2, 4),
    "f64_special": np.array([np.nan, -np.inf, np.inf, 1 / 3, -0.0, 5e-324]),
    "f16": np.array([[np.nan, 65504.0, -0.0]], np.float16),
    "i64": np.array([2**63 - 1, -2**63, 0, -1, 2**53 + 1], np.int64),
    "i32": np.array([[-2**31, 2**31 - 1]], np.int32),
    "u8": np.array([0, 255, 7], np.uint8),
    "i8": np.array([-128, 127], np.int8),
    "bool": np.array([[True, False], [False, True]]),
    "scalar": np.array(np.nan, np.float32),
    "empty": np.zeros((0, 3), np.int64),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
}


def _constant_graph():
    """A graph whose constants hold every kind of array, and nodes with tuple/None attrs."""
    def fn(x):
        outs = [ops.add(x, ATTR_ARRAYS["f32_special"][0, :3])]
        outs += [ops.pad(x, ((0, 0), (1, 2)), constant_values=float("nan"))]
        outs += [ops.slice_axes(x, [None], [-1], [1], [-1])]
        outs += [ops.reshape(x, (None, 3, 1))]
        t = x.trace
        outs += [type(x)(t.constant(value), t) for value in ATTR_ARRAYS.values()]
        return outs
    graph, _ = _graph(fn, ((None, 3), "float32"))
    return graph


def test_json_round_trip_is_exact():
    graph = _constant_graph()
    text = graph_to_json(graph)
    again = graph_from_json(text)
    assert graph_to_json(again) == text
    json.loads(text.replace("NaN", "null").replace("Infinity", "1e999"))  # well-formed otherwise
    # constants come back bit for bit, with their dtype and shape
    consts = [n.attrs["value"] for n in again.nodes if n.op == "constant"]
    for key, value in ATTR_ARRAYS.items():
        assert any(c.dtype == value.dtype and c.shape == value.shape
                   and c.tobytes() == np.ascontiguousarray(value).tobytes() for c in consts), key
    pad = next(n for n in again.nodes if n.op == "pad")
    assert np.isnan(pad.attrs["constant_value"]) and pad.attrs["pads"] == ((0, 0), (1, 2))
    sl = next(n for n in again.nodes if n.op == "slice")
    assert sl.attrs["starts"] == (None,) and sl.attrs["steps"] == (-1,)
    # structure: names, shapes with None, producers, inputs wired to the right values
    assert [v.name for v in again.inputs] == [v.name for v in graph.inputs]
    assert again.inputs[0].shape == (None, 3)
    for n1, n2 in zip(graph.nodes, again.nodes):
        assert n1.op == n2.op
        assert [v.name for v in n1.inputs] == [v.name for v in n2.inputs]
        assert [(v.name, v.shape, v.dtype) for v in n1.outputs] == \
            [(v.name, v.shape, v.dtype) for v in n2.outputs]
        assert all(v.producer is n2 for v in n2.outputs)
    # and the loaded graph computes the same, bit for bit
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    for a, b in zip(evaluate(graph, [x]), evaluate(again, [x])):
        _assert_same_arrays(np.asarray(a), np.asarray(b))


def test_json_round_trip_keeps_names_unique_for_new_nodes():
    graph, _ = _graph(lambda x: ops.relu(x), ((None, 2), "float32"))
    again = graph_from_json(graph_to_json(graph))
    fresh = again.fresh_name("relu")
    assert fresh != "relu" and fresh not in {v.name for n in again.nodes for v in n.outputs}


@settings(max_examples=40, deadline=None)
@given(array=st.sampled_from(["float16", "float32", "float64", "int8", "uint8", "int32",
                              "int64", "bool"]).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))))
def test_json_round_trip_of_any_array_attribute(array):
    g = Graph("arrays")
    out, = g.add_node("constant", [], [AVal(array.shape, array.dtype.name)], {"value": array})
    g.outputs = [out]
    text = graph_to_json(g)
    again = graph_from_json(text)
    assert graph_to_json(again) == text
    _assert_same_arrays(again.nodes[0].attrs["value"], array)
    _assert_same_arrays(evaluate(again, [])[0], array)


def test_json_rejects_values_used_before_definition():
    graph, _ = _graph(lambda x: ops.exp(ops.relu(x)), ((None, 2), "float32"))
    d = json.loads(graph_to_json(graph))
    d["nodes"].reverse()
    with pytest.raises(ValueError, match="used before it is defined"):
        graph_from_json(json.dumps(d))


def test_unsupported_dtype():
    with pytest.raises(TypeError, match="Unsupported dtype 'complex64'"):
        canonical_dtype(np.complex64)
    assert canonical_dtype(None) == "float32" and canonical_dtype(np.int64) == "int64"


# ------------------------------------------------------------------ repr
def test_graph_repr():
    def fn(x, w):
        y = ops.relu(ops.matmul(x, w) + 1.0)
        return [y, ops.sum(y, axis=-1, keepdims=True)]
    graph, _ = _graph(fn, ((None, 3), "float32"), ((3, 2), "float32"))
    assert repr(graph) == "\n".join([
        "graph g(%x0:float32[?, 3], %x1:float32[3, 2]) {",
        "  %matmul:float32[?, 2] = matmul(%x0, %x1)",
        "  %const:float32[] = constant(value=1.0)",
        "  %add:float32[?, 2] = add(%matmul, %const)",
        "  %relu:float32[?, 2] = relu(%add)",
        "  %reduce_sum:float32[?, 1] = reduce_sum(%relu, axes=(1,), keepdims=True)",
        "  return %relu, %reduce_sum",
        "}"])
    big, _ = _graph(lambda x: x + np.arange(6, dtype=np.int64), ((None, 6), "int64"))
    assert "constant(value=array<int64[6]>)" in repr(big)
    assert repr(AVal((None, 4), "bool")) == "bool[?, 4]"
    assert repr(Value((2,), "int32", "v")) == "%v:int32[2]"


def test_name_scopes_and_unique_names():
    t = Trace("g")
    with t:
        x = t.input((None, 2), "float32", "x")
        with t.name_scope("dense"):
            a = ops.relu(x)
            b = ops.relu(a)
    assert (a.name, b.name) == ("dense/relu", "dense/relu_1")
    assert t.input((1,), "float32", "x").name == "x_1"


# ----------------------------------------------------------- shape rules
@pytest.mark.parametrize("shapes,expected", [
    (((None, 3), (1, 3)), (None, 3)),
    (((None, 3), (3,)), (None, 3)),
    (((None, 1), (None, 4)), (None, 4)),
    (((None, 1), (1, 1)), (None, 1)),
    (((None,), (5,)), (5,)),  # a known size wins over None: the run must match it
    (((2, 1, 4), (3, 1), ()), (2, 3, 4)),
    (((None, None), (1, 7)), (None, 7)),
    (((), ()), ()),
])
def test_broadcast_shapes(shapes, expected):
    assert broadcast_shapes(*shapes) == expected


@pytest.mark.parametrize("shapes", [((None, 3), (4,)), ((2, 3), (3, 2)), ((2,), (None, 3))])
def test_broadcast_shapes_errors(shapes):
    with pytest.raises(ValueError, match="cannot be broadcast"):
        broadcast_shapes(*shapes)


def test_binary_ops_check_dtypes_and_shapes():
    with pytest.raises(TypeError, match="same dtype"):
        _graph(lambda a, b: ops.add(a, b), ((None, 3), "float32"), ((None, 3), "int32"))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        _graph(lambda a, b: ops.multiply(a, b), ((None, 3), "float32"), ((None, 2), "float32"))
    _, (y,) = _graph(lambda a: ops.less(a, 2), ((None, 3), "int64"))
    assert (y.shape, y.dtype) == ((None, 3), "bool")
    _, (y,) = _graph(lambda a: a * 2.5, ((None, 3), "float16"))
    assert y.dtype == "float16"  # Python scalars take the tensor's dtype


@pytest.mark.parametrize("shape,target,expected", [
    ((None, 2, 3), (None, -1), (None, 6)),
    ((None, 6), (None, 2, -1), (None, 2, 3)),
    ((None, 6), (None, -1, 3), (None, 2, 3)),
    ((None, 6), (-1, 3), (None, 3)),
    ((None, 6), (-1,), (None,)),
    ((None, 2, 3), (None, 6), (None, 6)),
    ((4, 6), (-1, 3), (8, 3)),
    ((4, 6), (2, 3, 4), (2, 3, 4)),
    ((None, 1), (None,), (None,)),
    ((None, 4), (None, 2, 2, 1), (None, 2, 2, 1)),
])
def test_reshape_rule(shape, target, expected):
    graph, (y,) = _graph(lambda x: ops.reshape(x, target), (shape, "float32"))
    assert y.shape == expected
    for batch in (1, 3):  # the interpreter's result has that shape
        x = np.zeros(tuple(batch if d is None else d for d in shape), np.float32)
        out = evaluate(graph, [x])[0]
        assert len(out.shape) == len(expected)
        assert all(d is None or d == n for d, n in zip(expected, out.shape))


@pytest.mark.parametrize("shape,target,match", [
    ((None, 6), (None, -1, -1), "at most one -1"),
    ((None, 6), (None, None), "only the first dimension may be None"),
    ((None, 6), (None, 4), "Cannot reshape"),
    ((None, 6), (None, 4, -1), "Cannot reshape"),
    ((4, 6), (5, -1), "Cannot reshape"),
    ((4, 6), (5, 5), "do not fit"),
])
def test_reshape_rule_errors(shape, target, match):
    with pytest.raises(ValueError, match=match):
        _graph(lambda x: ops.reshape(x, target), (shape, "float32"))


def test_concat_rule():
    _, (y,) = _graph(lambda a, b: ops.concatenate([a, b], axis=-1),
                     ((None, 3), "float32"), ((None, 4), "float32"))
    assert y.shape == (None, 7)
    _, (y,) = _graph(lambda a, b: ops.concatenate([a, b], axis=0),
                     ((None, 3), "float32"), ((2, 3), "float32"))
    assert y.shape == (None, 3)
    _, (y,) = _graph(lambda a, b: ops.concatenate([a, b], axis=1),
                     ((None, 3), "float32"), ((2, 3), "float32"))
    assert y.shape == (2, 6)  # the known batch of one operand is the output's


@pytest.mark.parametrize("specs,axis,error,match", [
    ((((None, 3), "float32"), ((None, 3, 1), "float32")), 1, ValueError, "same rank"),
    ((((None, 3, 2), "float32"), ((None, 4, 3), "float32")), 1, ValueError,
     "every axis except the concatenation axis"),
    ((((None, 3), "float32"), ((None, 3), "int32")), 1, TypeError, "same dtype"),
    ((((None, 3), "float32"),), 2, ValueError, "out of bounds"),
])
def test_concat_rule_errors(specs, axis, error, match):
    with pytest.raises(error, match=match):
        _graph(lambda *xs: ops.concatenate(xs, axis=axis), *specs)


@pytest.mark.parametrize("a,b,expected", [
    ((None, 3), (3, 4), (None, 4)),
    ((None, 2, 3), (3, 4), (None, 2, 4)),
    ((None, 2, 3), (None, 3, 5), (None, 2, 5)),
    ((None, 1, 2, 3), (4, 3, 5), (None, 4, 2, 5)),
    ((None, 3), (3,), (None,)),
    ((3,), (None, 3, 2), (None, 2)),
])
def test_matmul_rule(a, b, expected):
    _, (y,) = _graph(ops.matmul, (a, "float32"), (b, "float32"))
    assert y.shape == expected


@pytest.mark.parametrize("a,b,error,match", [
    (((None, 3), "float32"), ((4, 5), "float32"), ValueError, "inner dimensions differ"),
    (((None, 2, 3), "float32"), ((4, 3, 5), "float32"), None, None),  # batch None vs 4: ok
    (((2, 2, 3), "float32"), ((4, 3, 5), "float32"), ValueError, "cannot be broadcast"),
    (((None, 3), "float32"), ((3, 4), "float64"), TypeError, "same dtype"),
])
def test_matmul_rule_errors(a, b, error, match):
    if error is None:
        _graph(ops.matmul, a, b)
        return
    with pytest.raises(error, match=match):
        _graph(ops.matmul, a, b)


def test_matmul_primitive_needs_rank_2():
    from graphkeras.compiler.ops.nn import matmul_p
    with pytest.raises(ValueError, match="rank >= 2"):
        _graph(lambda a, b: matmul_p.bind(a, b), ((None,), "float32"), ((3, 2), "float32"))


def test_other_rule_errors():
    with pytest.raises(ValueError, match="squeeze: axis 1 has size 3"):
        _graph(lambda x: ops.squeeze(x, 1), ((None, 3), "float32"))
    with pytest.raises(TypeError, match="bool condition"):
        from graphkeras.compiler.ops.elementwise import where_p
        _graph(lambda c, x: where_p.bind(c, x, x), ((None, 3), "float32"), ((None, 3), "float32"))
    with pytest.raises(TypeError, match="indices must be int32 or int64"):
        _graph(lambda x, i: ops.take(x, i), ((4, 3), "float32"), ((None,), "float32"))
    with pytest.raises(ValueError, match="out of bounds"):
        normalize_axis(3, 3)
    assert normalize_axis(-1, 3) == 2
    with pytest.raises(ValueError, match="cannot be split into 4 equal sections"):
        _graph(lambda x: ops.split(x, 4, axis=1), ((None, 6), "float32"))
    with pytest.raises(ValueError, match="unknown mode"):
        _graph(lambda x: ops.pad(x, ((0, 0), (1, 1)), mode="wrap"), ((None, 6), "float32"))
    with pytest.raises(TypeError, match="no truth value"):
        _graph(lambda x: ops.relu(x) if x else x, ((None, 6), "float32"))


def test_window_rules():
    _, (y,) = _graph(lambda x: ops.conv(x, np.zeros((3, 3, 2, 5), np.float32), strides=2,
                                        padding="same"), ((None, 7, None, 2), "float32"))
    assert y.shape == (None, 4, None, 5)
    _, (y,) = _graph(lambda x: ops.conv(x, np.zeros((3, 1, 2, 5), np.float32),
                                        padding=((1, 2), (0, 3))), ((None, 7, 4, 2), "float32"))
    assert y.shape == (None, 8, 7, 5)
    _, (y,) = _graph(lambda x: ops.max_pool(x, (2, 3), padding=((0, 1), (2, 0))),
                     ((None, 5, 4, 1), "float32"))
    assert y.shape == (None, 3, 2, 1)
    _, (y,) = _graph(lambda x: ops.conv_transpose(x, np.zeros((3, 3, 4, 2), np.float32),
                                                  strides=2, padding="same"),
                     ((None, 5, 6, 2), "float32"))
    assert y.shape == (None, 10, 12, 4)
    with pytest.raises(ValueError, match="input has 3 channels"):
        _graph(lambda x: ops.conv(x, np.zeros((3, 2, 5), np.float32)), ((None, 7, 3), "float32"))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        _graph(lambda x: ops.max_pool(x, 2, padding="full"), ((None, 7, 3), "float32"))


# ----------------------------------------------------------- interpreter
def test_interpreter_runs_a_graph():
    def fn(x, w):
        h = ops.matmul(x, w)
        a = ops.relu(h)
        b = ops.tanh(h)  # h read by two nodes
        return [a + b, h, x]  # an intermediate and an input among the outputs
    graph, _ = _graph(fn, ((None, 3), "float32"), ((3, 2), "float32"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    w = rng.normal(size=(3, 2)).astype(np.float32)
    out, h, same_x = evaluate(graph, [x, w])
    np.testing.assert_allclose(h, x @ w, rtol=1e-6)
    np.testing.assert_allclose(out, np.maximum(x @ w, 0) + np.tanh(x @ w), rtol=1e-6)
    np.testing.assert_array_equal(same_x, x)
    by_name = evaluate(graph, {"x1": w, "x0": x})
    for a, b in zip(by_name, [out, h, same_x]):
        _assert_same_arrays(a, b)
    with pytest.raises(ValueError, match="takes 2 inputs; received 1"):
        evaluate(graph, [x])


def test_interpreter_same_value_twice_and_constants():
    graph, _ = _graph(lambda x: [ops.exp(x), ops.exp(x) * 0 + np.float32(2)],
                      ((None,), "float32"))
    graph.outputs = [graph.outputs[0], graph.outputs[0], graph.outputs[1]]
    a, b, c = evaluate(graph, [np.zeros(3, np.float32)])
    np.testing.assert_array_equal(a, np.ones(3, np.float32))
    np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(c, np.full(3, 2, np.float32))
    assert c.dtype == np.float32


def test_interpreter_multiple_results():
    """A primitive with several outputs (registered for this test only)."""
    prim = Primitive("_test_split_halves", lambda x: [AVal(x.shape[:-1] + (x.shape[-1] // 2,),
                                                           x.dtype)] * 2, multiple_results=True)
    try:
        prim.def_impl(lambda x: np.split(x, 2, axis=-1))
        graph, outs = _graph(lambda x: prim.bind(ops.negative(x)), ((None, 4), "float32"))
        assert [o.shape for o in outs] == [(None, 2), (None, 2)]
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        lo, hi = evaluate(graph, [x])
        np.testing.assert_array_equal(lo, -x[:, :2])
        np.testing.assert_array_equal(hi, -x[:, 2:])
        eager_lo, eager_hi = prim.bind(x)
        np.testing.assert_array_equal(eager_hi, x[:, 2:])
        with pytest.raises(ValueError, match="defined twice"):
            Primitive("_test_split_halves", lambda x: x)
    finally:
        del PRIMITIVES["_test_split_halves"]


def test_tracing_captures_variables_as_params():
    class Var:
        def __init__(self, value):
            self.value = value
            self.shape, self.dtype = value.shape, value.dtype

        def __array__(self, dtype=None, copy=None):
            return self.value

        def _trace_value(self, trace):
            return trace.param(self, self.value.shape, self.value.dtype.name, "kernel")

    v = Var(np.full((3, 2), 0.5, np.float32))
    graph, _ = _graph(lambda x: [ops.matmul(x, v), ops.matmul(x, v)], ((None, 3), "float32"))
    assert [i.name for i in graph.inputs] == ["x0", "kernel"]  # one param for both uses
    x = np.ones((2, 3), np.float32)
    a, b = evaluate(graph, [x, v.value])
    np.testing.assert_array_equal(a, np.full((2, 2), 1.5, np.float32))
    np.testing.assert_array_equal(ops.matmul(x, v), a)  # eager: the variable's value
    t1, t2 = Trace(), Trace()
    with t1:
        x1 = t1.input((None, 3), "float32", "x")
    with t2, pytest.raises(ValueError, match="another graph"):
        ops.add(t2.input((None, 3), "float32", "y"), x1)
