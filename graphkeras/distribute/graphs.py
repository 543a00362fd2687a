"""The graphs of data-parallel training: the fused train step split at the seam
between gradients and the optimizer update.

Single-process training runs one graph per step (:mod:`graphkeras.engine.steps`).
Here it becomes two, traced on the driver from the same ``model.train_step``:

* the **gradient graph** (run by every worker on its shard): data, weights,
  non-trainable state, metric accumulators and random counters in; logs,
  gradients and the new state out. It is ``train_step`` traced with
  ``optimizer.apply_gradients`` intercepted: the gradients it is given become
  graph outputs instead of being applied.
* the **update graph** (run by every worker on the all-reduced gradients, on its
  resident copy of the state): ``optimizer.apply_gradients`` traced on graph
  inputs standing for the gradients; reads weights and optimizer slots, writes
  them.

A :class:`TrainProgram` pairs them and names the training state the workers keep
resident between steps (by ``Variable.key``). The test step and the predict graph
are shipped to the workers unchanged. Workers receive the lowered ONNX, not the
model: every replica runs the very graphs the driver traced, ``train_step``
overrides and custom losses included.

State roles (see :mod:`graphkeras.distribute.worker` for the worker side):
metric accumulators go in as zeros and come out as the shard's contribution
(``sum`` over workers, Keras' accumulators being additive as ``merge_state``
assumes; the driver keeps the global metric state); random generators' counters
are offset per worker (``rng``; every worker then keeps worker 0's counter); other
state written by the forward pass (BatchNormalization's moving statistics) is
averaged weighted by shard size (``mean``, all-reduced with the gradients),
integer state is taken from worker 0 (``first``); everything else is read-only
(``bcast``).
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from graphkeras.compiler.lower_onnx import lower
from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
from graphkeras.compiler.primitive import Tensor, Trace
from graphkeras.compiler.verify import check_graph
from graphkeras.engine.base_layer import training_scope
from graphkeras.engine.steps import CompiledStep, _as_tensor, _unique

_ids = itertools.count()


class WorkerGraph:
    """A graph the workers run: ONNX bytes and what each input and output is.

    ``state``: ``[(input name, variable, role)]`` with role ``bcast``/``zero``/``rng``;
    ``outputs``: ``[(output name, kind, variable or None)]`` with kind ``log``,
    ``grad``, ``out`` (predict outputs) or a written state's reduction ``sum``,
    ``mean``, ``first``, ``rng``.
    """

    def __init__(self, model_bytes, data_names, state, outputs):
        self.gid = f"g{next(_ids)}"
        self.model_bytes = model_bytes
        self.data_names = list(data_names)
        self.state = list(state)
        self.outputs = list(outputs)
        self.sent = [var for _, var, role in self.state if role in ("bcast", "rng")]
        self.log_names = [name for name, kind, _ in self.outputs if kind in ("log", "out")]

    def plan(self) -> dict:
        """What a worker needs to run the graph (plain data: no Variables)."""
        return {"data": self.data_names,
                "state": [(name, role, tuple(var.shape), var.dtype)
                          for name, var, role in self.state],
                "keys": [var.key for _, var, _ in self.state],
                "outputs": [name for name, _, _ in self.outputs],
                "kinds": [kind for _, kind, _ in self.outputs],
                "out_vars": [None if var is None else (var.key, tuple(var.shape), var.dtype)
                             for _, _, var in self.outputs],
                "rng_outputs": [i for i, (_, kind, _) in enumerate(self.outputs) if kind == "rng"]}

    def indices(self, kind):
        return [i for i, (_, k, _) in enumerate(self.outputs) if k == kind]


def _roles(model):
    """``id(variable) -> role`` for the metric accumulators and random counters."""
    from graphkeras.layers.core import SeedGenerator
    roles = {}
    for metric in model.metrics:
        for var in metric.weights:
            roles[id(var)] = "metric"
    for layer in [model] + model._flatten_sublayers():
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator):
                roles[id(value.state)] = "rng"
    return roles


def _input_role(var, roles):
    role = roles.get(id(var))
    return {"metric": "zero", "rng": "rng"}.get(role, "bcast")


def _output_role(var, roles):
    role = roles.get(id(var))
    if role == "metric":
        return "sum"
    if role == "rng":
        return "rng"
    return "mean" if np.dtype(var.dtype).kind == "f" else "first"


@contextlib.contextmanager
def _recording_gradients(model):
    """Within the block ``optimizer.apply_gradients`` records its ``(gradient,
    variable)`` pairs instead of applying them."""
    optimizers = model.optimizer if isinstance(model.optimizer, (list, tuple)) \
        else [model.optimizer]
    calls = []

    def recorder(optimizer):
        def apply_gradients(grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs):
            calls.append((optimizer, list(grads_and_vars)))
            return optimizer.iterations
        return apply_gradients

    for optimizer in optimizers:
        optimizer.apply_gradients = recorder(optimizer)  # shadows the method on this instance
    try:
        yield calls
    finally:
        for optimizer in optimizers:
            vars(optimizer).pop("apply_gradients", None)


def _lower(graph, output_names):
    """ONNX bytes of ``graph`` and the names its outputs got."""
    onnx_model = lower(graph, output_names=output_names, doc="graphkeras data-parallel step")
    return onnx_model.SerializeToString(), [o.name for o in onnx_model.graph.output]


def trace_train(model, spec):
    """The :class:`TrainProgram` (gradient graph and update graph) of
    ``model.train_step`` for data described by ``spec`` (a ``DataSpec``)."""
    trace = Trace(f"{model.name}_gradient_step")
    with trace, training_scope(True), _recording_gradients(model) as calls:
        syms = [trace.input(shape, dtype, name) for name, shape, dtype in spec.all]
        logs = CompiledStep._trace_one(model, "train", spec, syms)
        log_names = list(logs)
        log_tensors = [_as_tensor(v, trace) for v in logs.values()]
    pairs = [(i, g, v) for i, (_, gv) in enumerate(calls) for g, v in gv if g is not None]
    grads = [g if isinstance(g, Tensor) else _as_tensor(g, trace) for _, g, _ in pairs]
    graph = trace.graph
    read = [var for var, _ in trace.params.values()]
    written = [var for var, _ in trace.updates.values()]
    graph.outputs = [t.value for t in log_tensors] + [g.value for g in grads] + \
        [t.value for _, t in trace.updates.values()]
    optimize(graph, FINAL_PIPELINE)
    check_graph(graph)
    n_data = len(spec.all)
    data_names = [v.name for v in graph.inputs[:n_data]]
    state_names = [v.name for v in graph.inputs[n_data:]]
    taken = [v.name for v in graph.inputs]
    wanted = _unique(taken + log_names + [f"{v.path}/grad" for _, _, v in pairs] +
                     [f"{v.path}/new" for v in written])[len(taken):]
    model_bytes, names = _lower(graph, wanted)
    roles = _roles(model)
    state = [(name, var, _input_role(var, roles)) for name, var in zip(state_names, read)]
    nl, ng = len(log_names), len(pairs)
    outputs = [(names[i], "log", None) for i in range(nl)] + \
        [(names[nl + i], "grad", pairs[i][2]) for i in range(ng)] + \
        [(names[nl + ng + i], _output_role(var, roles), var) for i, var in enumerate(written)]
    gradient = WorkerGraph(model_bytes, data_names, state, outputs)
    gradient.log_names = log_names
    update = Update(model, calls, pairs, grads) if pairs else None
    return TrainProgram(gradient, update)


def trace_test(model, spec):
    """The test step as a :class:`WorkerGraph`."""
    step = CompiledStep(model, "test", spec, eager=True)  # eager: traced, no executor here
    model_bytes = step.onnx_model().SerializeToString()
    roles = _roles(model)
    n = len(step.log_names)
    state = [(name, var, _input_role(var, roles)) for name, var in zip(step.state_names, step.read)]
    outputs = [(name, "log", None) for name in step.output_names[:n]] + \
        [(name, _output_role(var, roles), var) for name, var in
         zip(step.output_names[n:], step.written)]
    graph = WorkerGraph(model_bytes, step.data_names, state, outputs)
    graph.log_names = list(step.log_names)
    return graph


def predict_graph(model):
    """The predict graph as a :class:`WorkerGraph` (its outputs are per sample)."""
    model.make_predict_function()
    compiled = model._predict_graph
    onnx_model = compiled.onnx_model()
    state = [(name, var, "bcast") for name, var in zip(compiled.param_names, compiled.params)]
    outputs = [(o.name, "out", None) for o in onnx_model.graph.output]
    return WorkerGraph(onnx_model.SerializeToString(), compiled.data_names, state, outputs)


class TrainProgram:
    """The gradient graph and the update graph of one train step, and the training
    state the workers keep resident between steps.

    ``variables``: every variable either graph reads or writes, but the metric
    accumulators (those stay on the driver): weights, optimizer slots and
    iterations, the learning rate, moving statistics, random counters. The workers
    get them once (and again when the driver's copy changes); ``written``: the keys
    a step changes on the workers (the driver's copies are then behind until the
    strategy reads them back)."""

    def __init__(self, gradient, update):
        self.gradient, self.update = gradient, update
        found = {}
        for _, var, role in gradient.state:
            if role in ("bcast", "rng"):
                found.setdefault(var.key, var)
        written = {}
        for _, kind, var in gradient.outputs:
            if kind in ("mean", "first", "rng"):
                found.setdefault(var.key, var)
                written.setdefault(var.key, var)
        if update is not None:
            for var in update.read + update.written:
                found.setdefault(var.key, var)
            for var in update.written:
                written.setdefault(var.key, var)
        self.variables = list(found.values())
        self.written = list(written)


class Update:
    """The optimizer update, traced on graph inputs standing for the all-reduced
    gradients; every worker runs it on its resident state (weights, optimizer
    slots, iterations, learning rate), so all replicas stay bit-identical."""

    def __init__(self, model, calls, pairs, grads):
        trace = Trace(f"{model.name}_update")
        with trace, training_scope(True):
            inputs = [trace.input(g.shape, g.dtype, f"{v.path}/grad") for (_, _, v), g
                      in zip(pairs, grads)]
            for i, (optimizer, _) in enumerate(calls):  # in the order train_step made them
                gv = [(g, v) for (call, _, v), g in zip(pairs, inputs) if call == i]
                if gv:
                    type(optimizer).apply_gradients(optimizer, gv)
        graph = trace.graph
        self.read = [var for var, _ in trace.params.values()]
        self.written = [var for var, _ in trace.updates.values()]
        graph.outputs = [t.value for _, t in trace.updates.values()]
        optimize(graph, FINAL_PIPELINE)
        check_graph(graph)
        n = len(inputs)
        self.gid = f"u{next(_ids)}"
        self.grad_names = [v.name for v in graph.inputs[:n]]
        self.grad_dtypes = [np.dtype(g.dtype).name for g in grads]
        self.state_names = [v.name for v in graph.inputs[n:]]
        taken = [v.name for v in graph.inputs]
        wanted = _unique(taken + [f"{v.path}/new" for v in self.written])[len(taken):]
        self.model_bytes, self.output_names = _lower(graph, wanted)
        self.graph = graph

    def plan(self) -> dict:
        """What a worker needs to run the update (plain data: no Variables)."""
        return {"grads": list(zip(self.grad_names, self.grad_dtypes)),
                "state": [(name, var.key) for name, var in zip(self.state_names, self.read)],
                "outputs": [(name, var.key) for name, var in
                            zip(self.output_names, self.written)]}

    def release(self):
        pass
