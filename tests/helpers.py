"""Shared test helpers.

``check_op(fn, inputs)`` is the op-level check every op test builds on: it traces
``fn`` into a graph (inputs get a ``None`` batch dimension), then requires that

* the eager path (``fn`` called on numpy arrays) equals the reference
  interpreter run on the traced graph,
* the lowered ONNX model passes ``onnx.checker`` and uses only the default
  ``ai.onnx`` domain,
* ONNX Runtime on the lowered model equals the interpreter (float32 tolerance,
  exact for int/bool outputs),
* optionally, a numpy reference of the op's semantics equals the interpreter.

Each check is a separate function (``trace``, ``run_interpreter``, ``run_onnx``,
``assert_outputs_close``, ``check_onnx_model``), so tests can call them one by
one. ``check_op(..., grad=True)`` adds :func:`check_grad`: the reverse-mode
gradients built from the primitives' ``vjp`` rules against finite differences,
and the backward graph on ONNX Runtime against the interpreter.

Usage::

    from helpers import In, check_op
    check_op(lambda x, w: ops.matmul(x, w), [x, In(w, dynamic=())], ref=np.matmul, grad=True)
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort

from graphkeras.compiler import Trace
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.ir import Graph
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.primitive import Tensor

# float32 tolerances
RTOL = 1e-5
ATOL = 1e-6


@dataclass
class In:
    """One input of an op under test: its value and which axes are unknown when tracing.

    ``dynamic=(0,)`` (the default for plain arrays) traces the input with a
    ``None`` batch dimension; ``dynamic=()`` traces it with its full static
    shape (weights, kernels, index tables).
    """

    value: np.ndarray
    dynamic: tuple = (0,)

    def __post_init__(self):
        self.value = np.asarray(self.value)

    @property
    def traced_shape(self):
        return tuple(None if i in self.dynamic else d for i, d in enumerate(self.value.shape))


def as_inputs(inputs) -> list[In]:
    """Plain arrays become ``In(array)`` (batch dimension dynamic, when it has one)."""
    out = []
    for x in inputs:
        if isinstance(x, In):
            out.append(x)
        else:
            x = np.asarray(x)
            out.append(In(x, (0,) if x.ndim else ()))
    return out


def _flatten(out):
    if isinstance(out, (list, tuple)):
        return [y for o in out for y in _flatten(o)]
    return [out]


# --------------------------------------------------------------------- steps
def trace(fn: Callable, inputs: Sequence[In], name="op") -> Graph:
    """Trace ``fn`` on symbolic inputs shaped like ``inputs``; outputs are flattened."""
    t = Trace(name)
    with t:
        xs = [t.input(i.traced_shape, i.value.dtype.name, f"x{k}") for k, i in enumerate(inputs)]
        outs = _flatten(fn(*xs))
        outs = [o if isinstance(o, Tensor) else Tensor(t.lift(o), t) for o in outs]
    t.graph.outputs = [o.value for o in outs]
    return t.graph


def run_interpreter(graph: Graph, arrays) -> list[np.ndarray]:
    return [np.asarray(y) for y in evaluate(graph, list(arrays))]


def run_eager(fn: Callable, arrays) -> list[np.ndarray]:
    return [np.asarray(y) for y in _flatten(fn(*arrays))]


def _dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else None
            for d in value_info.type.tensor_type.shape.dim]


def check_onnx_model(model: onnx.ModelProto) -> None:
    """The model is valid ONNX, uses only operators of the default domain, and ONNX's own
    (strict) shape inference agrees with the output shapes the IR declares."""
    onnx.checker.check_model(model)
    domains = {o.domain for o in model.opset_import}
    assert domains <= {"", "ai.onnx"}, f"non-default opset domains: {domains}"
    used = {n.domain for n in model.graph.node}
    assert used <= {"", "ai.onnx"}, f"nodes from non-default domains: {used}"
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    for declared, got in zip(model.graph.output, inferred.graph.output):
        a, b = _dims(declared), _dims(got)
        assert len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b)), \
            f"output {declared.name}: IR shape {a}, ONNX shape inference {b}"


_SESSIONS: "OrderedDict[str, ort.InferenceSession]" = OrderedDict()
_SESSION_CACHE_SIZE = 64


def onnx_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A CPU session for ``model``, cached by the model's bytes (one thread: tests are tiny)."""
    data = model.SerializeToString()
    key = hashlib.sha1(data).hexdigest()
    sess = _SESSIONS.get(key)
    if sess is None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        sess = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        _SESSIONS[key] = sess
        if len(_SESSIONS) > _SESSION_CACHE_SIZE:
            _SESSIONS.popitem(last=False)
    else:
        _SESSIONS.move_to_end(key)
    return sess


def run_onnx(graph: Graph, arrays, model: onnx.ModelProto | None = None) -> list[np.ndarray]:
    """Lower ``graph`` (unless ``model`` is given) and run it on ONNX Runtime."""
    model = lower(graph) if model is None else model
    sess = onnx_session(model)
    feeds = {v.name: np.asarray(a) for v, a in zip(graph.inputs, arrays)}
    return sess.run(None, feeds)


def _is_exact(dtype) -> bool:
    return not np.issubdtype(np.dtype(dtype), np.floating)


def assert_outputs_close(actual, expected, *, rtol=RTOL, atol=ATOL, exact=None, what="output",
                         values=True):
    """Same count, shapes and dtypes; values (unless ``values=False``) equal (NaN == NaN),
    within tolerance for floats unless ``exact`` (default: exact for int/bool outputs)."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for k, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        label = f"{what}[{k}]"
        assert a.shape == e.shape, f"{label}: shape {a.shape} != {e.shape}"
        assert a.dtype == e.dtype, f"{label}: dtype {a.dtype} != {e.dtype}"
        if not values:
            continue
        if exact or (exact is None and _is_exact(e.dtype)):
            np.testing.assert_array_equal(a, e, err_msg=label)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


def trace_loss(fn: Callable, inputs: Sequence[In], wrt: Sequence[int], dtype: str) -> Graph:
    """Graph of ``L = sum_k sum(y_k * w_k)`` over the float outputs ``y_k`` of ``fn`` (the
    weights ``w_k`` are extra graph inputs, so batch sizes stay dynamic), and ``dL/dx_i``.

    Outputs: ``[L, dL/dx_i for i in wrt]``; float inputs are cast to ``dtype``."""
    from graphkeras.compiler.autodiff import grad
    from graphkeras.compiler.ir import is_float
    t = Trace("loss")
    with t:
        xs = [t.input(i.traced_shape, dtype if is_float(i.value.dtype.name) else
                      i.value.dtype.name, f"x{k}") for k, i in enumerate(inputs)]
        ys = [y for y in _flatten(fn(*xs)) if isinstance(y, Tensor) and is_float(y.dtype)]
        from graphkeras.compiler import ops
        terms = [ops.sum(ops.multiply(y, t.input(y.shape, y.dtype, f"w{k}")))
                 for k, y in enumerate(ys)]
        loss = terms[0]
        for term in terms[1:]:
            loss = ops.add(loss, term)
        grads = grad(loss, [xs[i] for i in wrt])
    assert all(g is not None for g in grads), "an input of wrt does not reach the outputs"
    t.graph.outputs = [loss.value] + [g.value for g in grads]
    return t.graph


def check_grad(fn: Callable, inputs, wrt=None, *, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0,
               onnx_=True, expect_prims=()) -> list[np.ndarray]:
    """Reverse-mode gradients (``prim.vjp`` rules via ``autodiff.grad``) of ``fn``:

    * in float64 on the interpreter, against central differences of the weighted-sum loss
      along one random direction per input in ``wrt`` (default: every float input);
    * in float32, ONNX Runtime on the lowered backward graph against the interpreter.
    ``expect_prims``: primitive names the backward graph must contain.
    Returns the float64 gradients."""
    inputs = as_inputs(inputs)
    if wrt is None:
        wrt = [k for k, i in enumerate(inputs) if np.issubdtype(i.value.dtype, np.floating)]
    rng = np.random.default_rng(seed)
    outs = [y for y in _flatten(fn(*[i.value for i in inputs]))
            if np.issubdtype(np.asarray(y).dtype, np.floating)]
    weights = [rng.uniform(0.5, 1.5, np.shape(y)) for y in outs]

    def cast(arrays, dtype):
        return [a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]

    x64 = cast([i.value for i in inputs], np.float64)
    graph = trace_loss(fn, inputs, wrt, "float64")
    ops_used = {n.op for n in graph.nodes}
    missing = set(expect_prims) - ops_used
    assert not missing, f"backward graph lacks {sorted(missing)}; it has {sorted(ops_used)}"
    loss, *grads = evaluate(graph, x64 + cast(weights, np.float64))
    for g, i in zip(grads, wrt):
        assert g.shape == inputs[i].value.shape, f"d/dx{i}: shape {g.shape}"
        direction = rng.standard_normal(g.shape)
        plus, minus = list(x64), list(x64)
        plus[i] = x64[i] + eps * direction
        minus[i] = x64[i] - eps * direction
        w64 = cast(weights, np.float64)
        numeric = (evaluate(graph, plus + w64)[0] - evaluate(graph, minus + w64)[0]) / (2 * eps)
        np.testing.assert_allclose(np.sum(g * direction), numeric, rtol=rtol, atol=atol,
                                   err_msg=f"d/dx{i} against finite differences")
    if onnx_:
        graph32 = trace_loss(fn, inputs, wrt, "float32")
        feeds = cast([i.value for i in inputs], np.float32) + cast(weights, np.float32)
        model = lower(graph32)
        check_onnx_model(model)
        assert_outputs_close(run_onnx(graph32, feeds, model), run_interpreter(graph32, feeds),
                             rtol=1e-4, atol=1e-5,
                             what="backward graph: onnxruntime vs interpreter")
    return grads


@dataclass
class OpResult:
    graph: Graph
    model: onnx.ModelProto | None
    interpreter: list = field(default_factory=list)
    eager: list = field(default_factory=list)
    onnx: list = field(default_factory=list)


def check_op(fn: Callable, inputs, *, ref: Callable | None = None, rtol=RTOL, atol=ATOL,
             exact=None, ref_rtol=None, ref_atol=None, eager=True, onnx_=True, grad=False,
             compare_values=True, expect_prims=()) -> OpResult:
    """Trace ``fn`` on ``inputs`` (arrays or :class:`In`) and cross-check every path.

    ``ref``: numpy function of the input arrays giving the expected outputs (the op's
    semantics); compared with ``ref_rtol/ref_atol`` (default ``rtol/atol``).
    ``compare_values=False`` checks only shapes and dtypes (random ops).
    ``expect_prims``: primitive names the traced graph must contain.
    ``grad``: True (or a dict of :func:`check_grad` arguments) also checks the gradients.
    """
    inputs = as_inputs(inputs)
    arrays = [i.value for i in inputs]
    graph = trace(fn, inputs)
    ops_used = {n.op for n in graph.nodes}
    missing = set(expect_prims) - ops_used
    assert not missing, f"graph lacks primitives {sorted(missing)}; it has {sorted(ops_used)}"
    # the traced output shapes must be compatible with the run's shapes
    interp = run_interpreter(graph, arrays)
    for v, y in zip(graph.outputs, interp):
        fits = len(v.shape) == y.ndim and all(d is None or d == n for d, n in zip(v.shape, y.shape))
        assert fits, f"traced shape {v.shape} does not match the computed shape {y.shape}"
        assert v.dtype == y.dtype.name, f"traced dtype {v.dtype} != computed dtype {y.dtype}"
    result = OpResult(graph, None, interpreter=interp)
    cmp = dict(rtol=rtol, atol=atol, exact=exact, values=compare_values)
    if eager:
        result.eager = run_eager(fn, arrays)
        # same numpy kernels on the same arrays: identical up to float rounding
        assert_outputs_close(result.eager, interp, what="eager vs interpreter", **cmp)
    if ref is not None:
        expected = [np.asarray(y) for y in _flatten(ref(*arrays))]
        assert_outputs_close(interp, expected, rtol=rtol if ref_rtol is None else ref_rtol,
                             atol=atol if ref_atol is None else ref_atol, exact=exact,
                             what="interpreter vs numpy reference")
    if onnx_:
        result.model = lower(graph)
        check_onnx_model(result.model)
        result.onnx = run_onnx(graph, arrays, result.model)
        assert_outputs_close(result.onnx, interp, what="onnxruntime vs interpreter", **cmp)
    if grad:
        check_grad(fn, inputs, **({} if grad is True else grad))
    return result
