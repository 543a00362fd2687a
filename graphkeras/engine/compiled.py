"""A traced graph ready to run: on ONNX Runtime, or op by op on numpy."""
from __future__ import annotations

import os

import numpy as np

from graphkeras import backend
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.ir import Graph
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
from graphkeras.compiler.verify import check_graph
from graphkeras.runtime import GraphExecutor


class CompiledGraph:
    """``graph`` whose inputs are data inputs followed by the weights in ``params``.

    Compiled (the default): lowered to ONNX once; weights are placed in the
    shared device state and bound by reference, so a call moves only data.
    ``frozen`` (inference graphs) lets ONNX Runtime fold and prepack the weights;
    the session is rebuilt after they change. Eager (``run_eagerly=True``): the reference interpreter, reading weights
    from the host.
    """

    def __init__(self, graph: Graph, params: list, n_data: int, eager: bool = False,
                 output_names: list[str] | None = None, frozen: bool = False, jit: bool = False):
        self.graph = graph
        self.params = params
        self.n_data = n_data
        self.eager = eager
        self.output_names = output_names
        self.data_names = [v.name for v in graph.inputs[:n_data]]
        self.param_names = [v.name for v in graph.inputs[n_data:]]
        self._executor = None
        self._onnx = None
        optimize(graph, FINAL_PIPELINE)
        check_graph(graph)
        _debug_dump(graph, self)
        if not eager and jit:  # jit_compile=True: TVM
            from graphkeras.runtime import tvm_executor
            state = tvm_executor.device_state()
            keys = {name: var.place(state) for name, var in zip(self.param_names, params)}
            self._executor = tvm_executor.TVMGraphExecutor(graph, self.data_names, keys, state)
        elif not eager:
            state = backend.device_state()
            keys = {name: var.place(state) for name, var in zip(self.param_names, params)}
            self._executor = GraphExecutor(self.onnx_model().SerializeToString(), self.data_names,
                                           keys, state, frozen=frozen)

    def onnx_model(self, embed_weights: bool = False, opset: int | None = None):
        """The ONNX model; with ``embed_weights`` a self-contained artefact."""
        kwargs = {} if opset is None else {"opset": opset}
        if embed_weights:
            inits = {n: np.asarray(v.numpy()) for n, v in zip(self.param_names, self.params)}
            return lower(self.graph, initializers=inits, doc="graphkeras",
                         output_names=self.output_names, **kwargs)
        if self._onnx is None or kwargs:
            model = lower(self.graph, doc="graphkeras", output_names=self.output_names, **kwargs)
            if kwargs:
                return model
            self._onnx = model
        return self._onnx

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self.eager:
            return evaluate(self.graph, list(arrays) + [v.numpy() for v in self.params])
        return self._executor(arrays)


def _debug_dump(graph, compiled):
    """``GRAPHKERAS_DEBUG=1`` prints each traced graph; ``2`` also writes its ONNX
    model to ``GRAPHKERAS_DUMP_DIR`` (default ``graphkeras_dump/``)."""
    level = int(os.environ.get("GRAPHKERAS_DEBUG", "0") or 0)
    if level >= 1:
        print(graph)
    if level >= 2:
        folder = os.environ.get("GRAPHKERAS_DUMP_DIR", "graphkeras_dump")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{graph.name}.onnx"), "wb") as f:
            f.write(compiled.onnx_model().SerializeToString())
