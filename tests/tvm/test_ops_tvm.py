"""Every primitive on TVM: numpy interpreter == ONNX Runtime == TVM (Relax VM).

Reuses the op table of ``tests/runtime/test_ops_onnx.py`` (its ``OpCase`` list,
strategies and value domains). For each case, hypothesis draws a few examples;
each is traced with a ``None`` batch dimension, run by the reference
interpreter, by ONNX Runtime and by the TVM module (one module per traced
graph, built once: examples that differ only in batch size reuse it), and the
three must agree. ``test_every_primitive_has_a_relax_rule`` fails when a
primitive is registered without a Relax lowering.

``GRAPHKERAS_TVM_OP_EXAMPLES`` (default 2) sets the examples per case.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("tvm", reason="apache-tvm is not installed (pip install graphkeras[tvm])")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runtime"))
import test_ops_onnx as table  # noqa: E402

from graphkeras.compiler import PRIMITIVES  # noqa: E402
from graphkeras.compiler.lower_relax import missing_rules  # noqa: E402
from graphkeras.runtime.tvm_executor import build_module  # noqa: E402
from graphkeras.compiler.lower_onnx import lower  # noqa: E402
from helpers import (assert_outputs_close, check_onnx_model, run_interpreter,  # noqa: E402
                     run_onnx, trace, trace_loss)

EXAMPLES = int(os.environ.get("GRAPHKERAS_TVM_OP_EXAMPLES", 2))
CASES = table.CASES


def run_tvm(graph, arrays):
    module = build_module(graph, target="llvm", cache_dir="off")  # (in-process cache only)
    return module(*arrays)


def test_every_primitive_has_a_relax_rule():
    missing = missing_rules()
    assert not missing, f"primitives without a TVM Relax rule (def_relax): {missing}"


def test_every_primitive_has_a_tvm_case():
    covered = {p for case in CASES for p in case.prims + case.grad_prims}
    assert not sorted(set(PRIMITIVES) - covered)


def check_three_ways(case, graph, arrays):
    """Interpreter, ONNX Runtime and TVM on ``graph``: the same outputs."""
    interp = run_interpreter(graph, arrays)
    model = lower(graph)
    check_onnx_model(model)
    onnx_out = run_onnx(graph, arrays, model)
    tvm_out = run_tvm(graph, arrays)
    cmp = dict(rtol=case.rtol, atol=case.atol, values=case.compare_values)
    assert_outputs_close(onnx_out, interp, what="onnxruntime vs interpreter", **cmp)
    assert_outputs_close(tvm_out, interp, what="tvm vs interpreter", **cmp)
    return tvm_out


def backward_graph(fn, inputs, forward_outputs, rng):
    """The weighted-sum loss of the float outputs and its gradients (helpers.trace_loss),
    with its inputs: the op's inputs then one weight per float output."""
    wrt = [k for k, i in enumerate(inputs) if np.issubdtype(i.value.dtype, np.floating)]
    graph = trace_loss(fn, inputs, wrt, "float32")
    weights = [rng.uniform(0.5, 1.5, y.shape).astype(np.float32) for y in forward_outputs
               if np.issubdtype(y.dtype, np.floating)]
    return graph, [i.value for i in inputs] + weights


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_tvm(case):
    @settings(max_examples=max(1, int(EXAMPLES * min(case.examples, 2))), deadline=None,
              database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(example=case.shapes, seed=st.integers(0, 2**32 - 1))
    def run(example, seed):
        inputs = table.make_inputs(case, example, seed)
        fn = functools.partial(case.fn, **example.params)
        arrays = [i.value for i in inputs]
        graph = trace(fn, inputs)
        if any(n.op == "scan" and n.inputs[n.attrs["n_carry"]].shape[0] is None
               for n in graph.nodes):
            # a loop over sequences of unknown length: not compiled by TVM (a clear error)
            with pytest.raises(ValueError, match="unknown length"):
                run_tvm(graph, arrays)
            return
        with np.errstate(all="ignore"):
            tvm_out = check_three_ways(case, graph, arrays)
            if case.grad_prims:
                grad_graph, grad_arrays = backward_graph(fn, inputs, tvm_out,
                                                         np.random.default_rng(seed))
                assert set(case.grad_prims) <= {n.op for n in grad_graph.nodes}
                check_three_ways(dataclasses.replace(case, rtol=1e-4, atol=1e-5), grad_graph,
                                 grad_arrays)
        if not case.compare_values:
            for y in tvm_out:
                assert y.shape == inputs[0].value.shape and y.dtype == np.float32
                assert np.all(np.isfinite(y))
    run()
