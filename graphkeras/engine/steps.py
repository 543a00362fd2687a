"""Train and test steps, traced once and run as one ONNX Runtime call each.

The calling convention of a step graph (the names a saved ``train_step.onnx``
uses too):

* inputs: the data — model inputs ``x...``, targets ``y...``, sample weights
  ``sample_weight...`` (in that order) — then every piece of state the step
  reads, named after its variable: weights (``dense/kernel``), non-trainable
  state (``batch_normalization/moving_mean``), optimizer slots and counters
  (``Adam/m/dense/kernel``, ``Adam/iterations``, ``Adam/learning_rate``),
  metric accumulators (``loss/total``);
* outputs: the logs (``loss``, metric results) then the new value of every
  piece of state the step wrote, named ``<variable>/new``.

A runtime feeds the ``/new`` outputs back as the next step's inputs; graphkeras
does it without copies (:class:`graphkeras.runtime.executor.StepExecutor`).
"""
from __future__ import annotations

import numpy as np

from graphkeras import backend
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.primitive import Tensor, Trace
from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
from graphkeras.compiler.verify import check_graph
from graphkeras.engine.base_layer import training_scope
from graphkeras.engine.keras_tensor import flatten, pack_like
from graphkeras.runtime.executor import StepExecutor


class DataSpec:
    """Names, shapes (batch None) and dtypes of a step's data inputs, and the
    structures to rebuild ``(x, y, sample_weight)`` from flat arrays."""

    def __init__(self, x_specs, x_structure, y_arrays, y_structure, sw_arrays):
        self.x = x_specs
        self.x_structure = x_structure
        self.y = [(f"y{i}" if len(y_arrays) > 1 else "y", (None,) + a.shape[1:], _dtype(a))
                  for i, a in enumerate(y_arrays)]
        self.y_structure = y_structure
        self.sw = [(f"sample_weight{i}" if len(sw_arrays) > 1 else "sample_weight",
                    (None,) + a.shape[1:], a.dtype.name) for i, a in enumerate(sw_arrays)]

    @property
    def all(self):
        return self.x + self.y + self.sw

    def key(self):
        return tuple((s[1], s[2]) for s in self.all)


def _dtype(a):
    return "float32" if a.dtype.kind == "f" else a.dtype.name


class CompiledStep:
    """One traced step (``model.train_step`` or ``test_step``) and its executor."""

    def __init__(self, model, kind: str, spec: DataSpec, eager: bool = False, repeat: int = 1):
        """``repeat`` > 1 folds that many steps into the graph (``steps_per_execution``): the
        data inputs then hold ``repeat`` equal batches back to back, and each step reads
        the state the previous one wrote."""
        self.kind = kind
        self.eager = eager
        self.repeat = repeat
        self.spec = spec  # data names/shapes/dtypes and target structure (saved manifests)
        trace = Trace(f"{model.name}_{kind}_step" + (f"_x{repeat}" if repeat > 1 else ""))
        with trace, training_scope(kind == "train"):
            syms = [trace.input(shape, dtype, name) for name, shape, dtype in spec.all]
            if repeat == 1:
                logs = self._trace_one(model, kind, spec, syms)
                log_names = list(logs)
                log_tensors = [_as_tensor(v, trace) for v in logs.values()]
            else:
                log_names, log_tensors = self._trace_loop(model, kind, spec, syms, repeat)
        self.log_names = log_names
        graph = trace.graph
        self.read = [var for var, _ in trace.params.values()]
        self.written = [var for var, _ in trace.updates.values()]
        updates = [t for _, t in trace.updates.values()]
        graph.outputs = [t.value for t in log_tensors] + [t.value for t in updates]
        optimize(graph, FINAL_PIPELINE)
        check_graph(graph)
        self.graph = graph
        self.n_data = len(spec.all)
        self.data_names = [v.name for v in graph.inputs[:self.n_data]]
        self.state_names = [v.name for v in graph.inputs[self.n_data:]]
        # ONNX names inputs and outputs in one namespace: a log named like a state input
        # (a TrueNegatives metric next to AUC's ``true_negatives``) gets a ``_1`` suffix
        taken = [v.name for v in graph.inputs]
        self.output_names = _unique(taken + self.log_names +
                                    [f"{var.path}/new" for var in self.written])[len(taken):]
        self._executor = None
        self._onnx = None
        # TVM instead of ONNX Runtime; the executor opens at the first run (a loaded model
        # traces its steps to restore their state, and may never run them)
        self._jit = bool(getattr(model, "_jit_compile", False))

    def _open(self):
        """Place the state on the device and open the executor (lower and build the graph)."""
        if self._jit:
            from graphkeras.runtime import tvm_executor
        state = tvm_executor.device_state() if self._jit else backend.device_state()
        reads = {name: var.place(state) for name, var in zip(self.state_names, self.read)}
        writes = {name: var.place(state) for name, var in
                  zip(self.output_names[len(self.log_names):], self.written)}
        logs = self.output_names[:len(self.log_names)]
        self._executor = tvm_executor.TVMStepExecutor(
            self.graph, self.output_names, self.data_names, reads, writes, logs, state) \
            if self._jit else StepExecutor(self.onnx_model().SerializeToString(), self.data_names,
                                           reads, writes, logs, state)

    @classmethod
    def _trace_loop(cls, model, kind, spec, syms, repeat):
        """``repeat`` steps as one loop (an ONNX ``Loop``) whose body is one step: the
        state the body assigns is carried from step to step; the logs are the last
        step's."""
        from graphkeras.compiler import ops
        names = []

        def body(carry, batch):
            logs = cls._trace_one(model, kind, spec, batch)
            names.extend(logs)
            return [], [_as_tensor(v, batch[0].trace) for v in logs.values()]

        batches = [ops.split_leading(t, repeat) for t in syms]
        _, stacked = ops.scan(body, [], batches, name="steps")
        return names, [ops.squeeze(ops.slice_axes(y, [repeat - 1], [repeat], [0]), 0)
                       for y in stacked]

    @staticmethod
    def _trace_one(model, kind, spec, syms):
        nx, ny = len(spec.x), len(spec.y)
        x = model._input_structure_for(syms[:nx])
        y = pack_like(spec.y_structure, syms[nx:nx + ny]) if ny else None
        sw = syms[nx + ny:]
        sw = None if not sw else (sw[0] if len(sw) == 1 else sw)
        data = (x,) if y is None else ((x, y) if sw is None else (x, y, sw))
        logs = (model.train_step if kind == "train" else model.test_step)(data)
        if not isinstance(logs, dict):
            raise ValueError(f"`{kind}_step` must return a dict of logs (name -> value); "
                             f"received {type(logs).__name__}.")
        return logs

    def onnx_model(self, opset: int | None = None):
        """The step as ONNX: state in, logs and new state out (see module docstring)."""
        if self._onnx is None or opset is not None:
            kwargs = {} if opset is None else {"opset": opset}
            model = lower(self.graph, output_names=self.output_names, doc=__doc__, **kwargs)
            if opset is not None:
                return model
            self._onnx = model
        return self._onnx

    def __call__(self, arrays) -> dict:
        if self.eager:
            outs = evaluate(self.graph, list(arrays) + [np.asarray(v.numpy()) for v in self.read])
            n = len(self.log_names)
            for var, value in zip(self.written, outs[n:]):
                var.assign(value)
            return dict(zip(self.log_names, (_scalar(o) for o in outs[:n])))
        if self._executor is None:
            self._open()
        self._executor(arrays)
        return dict(zip(self.log_names, (_scalar(o) for o in self._executor.logs())))

    def release(self):
        if self._executor is not None:
            self._executor.close()


def _as_tensor(value, trace):
    if isinstance(value, Tensor):
        return value
    return Tensor(trace.lift(np.asarray(value, np.float32)), trace)


def _unique(names):
    """Names made unique with ``_1``, ``_2`` suffixes (metrics share variable names)."""
    seen, out = set(), []
    for name in names:
        candidate, i = name, 0
        while candidate in seen:
            i += 1
            candidate = f"{name}_{i}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _scalar(value):
    value = np.array(value)  # a copy: a log array may be a view of a runtime buffer
    return float(value) if value.size == 1 else value


def flat_targets(y, output_names):
    """Targets as a list aligned with the outputs, and the structure to rebuild them."""
    if y is None:
        return [], None
    if isinstance(y, dict):
        unknown = sorted(set(y) - set(output_names))
        if unknown:
            raise ValueError(f"Found unexpected target keys {unknown}. Expected keys are the "
                             f"model's output names: {output_names}.")
        present = [n for n in output_names if n in y]
        if len(output_names) > 1 and len(present) == len(output_names):
            # every output has a target: a list in output order, like list targets (and the
            # same compiled step); pack_like would read a dict back in sorted-key order
            return [y[n] for n in output_names], [None] * len(output_names)
        return [y[n] for n in sorted(present)], {n: None for n in present}
    if isinstance(y, (list, tuple)) and len(output_names) > 1:
        return list(y), [None] * len(y)
    return [y], None


def rebuild(structure, leaves):
    if structure is None:
        return leaves[0]
    return pack_like(structure, leaves)


__all__ = ["CompiledStep", "DataSpec", "flat_targets", "rebuild", "flatten"]
