"""Run code written on gk.ops through the tracer and the reference interpreter,
the way compiled steps run it, and apply its variable assignments."""
import numpy as np

from graphkeras.compiler import Trace
from graphkeras.compiler.interpreter import evaluate
from graphkeras.engine.keras_tensor import flatten, pack_like


def run_traced(fn, *args):
    """``fn(*args)`` traced with ``args`` as symbolic inputs, then evaluated by the numpy
    interpreter. Variables ``fn`` assigns are updated afterwards, as a compiled step
    would. Returns fn's outputs (same structure) as arrays."""
    args = [np.asarray(a) for a in args]
    trace = Trace("test")
    with trace:
        symbolic = [trace.input(a.shape, a.dtype.name, f"arg{i}") for i, a in enumerate(args)]
        out = fn(*symbolic)
    flat = [o if not isinstance(o, (int, float, np.ndarray, np.generic)) else None for o in flatten(out)]
    constants = {i: o for i, o in enumerate(flatten(out)) if flat[i] is None}
    tensors = [o for o in flat if o is not None]
    updates = list(trace.updates.values())
    trace.graph.outputs = [t.value for t in tensors] + [t.value for _, t in updates]
    feeds = args + [np.asarray(var.numpy()) for var, _ in trace.params.values()]
    results = evaluate(trace.graph, feeds)
    for (var, _), value in zip(updates, results[len(tensors):]):
        var.assign(value)
    it = iter(results[:len(tensors)])
    values = [constants[i] if i in constants else next(it) for i in range(len(flat))]
    return pack_like(out, values) if isinstance(out, (list, tuple, dict)) else values[0]
