"""``graphkeras doctor``: which backends can run each layer's ops, and whether
each op has a gradient rule.

The model is traced in training mode (so Dropout's random ops show); each op is
looked up in the op registry (:data:`graphkeras.compiler.primitive.PRIMITIVES`):
ONNX when it has an ONNX lowering, TVM when it has a Relax lowering, gradient when
it has a gradient rule or is non-differentiable (comparisons, random draws...).
For a compiled model, the ops only the train step uses (loss, gradients, optimizer)
are listed too.
"""
from __future__ import annotations

from collections import Counter

from graphkeras.compiler.autodiff import NON_DIFFERENTIABLE
from graphkeras.compiler.primitive import PRIMITIVES, Trace
from graphkeras.deploy.loading import has_training_config, one_line
from graphkeras.deploy.specs import DeployError, input_specs

STEP_ROW = "(train step: loss, gradients, optimizer)"
MODEL_ROW = "(model's own call)"


def forward_ops(model):
    """``[(row label, Counter(op -> count))]`` per top-level layer, in layer order."""
    from graphkeras.engine.base_layer import Layer, training_scope
    specs = input_specs(model)
    trace = Trace(f"{model.name}_doctor")
    try:
        with trace, training_scope(True):
            xs = [trace.input(shape, dtype, name) for name, shape, dtype in specs]
            structure = model._input_structure_for(xs)
            if model._call_has_training:
                Layer.__call__(model, structure, training=True)
            else:
                Layer.__call__(model, structure)
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"cannot trace model {model.name!r}: {one_line(err)}") from None
    layers = {layer.name: layer for layer in model.layers}
    counts = {name: Counter() for name in layers}
    own = Counter()
    for node in trace.graph.nodes:
        name = node.outputs[0].name if node.outputs else ""
        parts = (name or "").split("/")
        scope = parts[1] if len(parts) > 2 and parts[0] == model.name else \
            (parts[0] if len(parts) > 1 else None)
        (counts[scope] if scope in counts else own)[node.op] += 1
    rows = [(f"{name} ({type(layer).__name__})", counts[name]) for name, layer in layers.items()]
    if own:
        rows.append((MODEL_ROW, own))
    return rows


def step_only_ops(model, forward):
    """Ops of the traced train step that the forward pass does not use."""
    from graphkeras.deploy.artifacts import _predict_graph, _steps
    from graphkeras.deploy.specs import output_specs
    predict = _predict_graph(model)
    train, _ = _steps(model, input_specs(model), output_specs(predict.graph, model), None)
    seen = set(forward)
    return Counter(node.op for node in train.graph.nodes if node.op not in seen)


def op_status(op, gradient=True):
    prim = PRIMITIVES.get(op)
    onnx = prim is not None and prim.onnx is not None
    tvm = prim is not None and prim.relax is not None
    if not gradient:
        grad = "-"
    elif op in NON_DIFFERENTIABLE:
        grad = "n/a"
    else:
        grad = "yes" if prim is not None and prim.vjp is not None else "MISSING"
    return onnx, tvm, grad


def report(model, print_fn=print) -> int:
    """Print the table; returns the number of problems (an op without an ONNX lowering,
    or, for a model compiled for training, a differentiable op without a gradient)."""
    rows = forward_ops(model)
    trains = has_training_config(model)
    forward = Counter()
    for _, ops in rows:
        forward.update(ops)
    extra, step_error = Counter(), None
    if trains:
        try:
            extra = step_only_ops(model, forward)
        except DeployError as err:
            step_error = str(err)
    width = max([len(label) for label, _ in rows] + [len(STEP_ROW) if extra else 0, 12]) + 2
    print_fn(f'Model: "{model.name}"')
    print_fn(f"{'Layer (type)':<{width}}{'Op':<20}{'Count':>5}  {'ONNX':<5}{'TVM':<5}Gradient")
    print_fn("=" * (width + 45))
    problems = []

    def lines(label, ops, gradient):
        if not ops:
            print_fn(f"{label:<{width}}(no ops)")
            return
        for i, (op, count) in enumerate(sorted(ops.items())):
            onnx, tvm, grad = op_status(op, gradient)
            print_fn(f"{label if i == 0 else '':<{width}}{op:<20}{count:>5}  "
                     f"{'yes' if onnx else 'NO':<5}{'yes' if tvm else 'no':<5}{grad}")
            if not onnx:
                problems.append(f"{op} has no ONNX lowering")
            if grad == "MISSING" and trains:
                problems.append(f"{op} has no gradient rule")

    for label, ops in rows:
        lines(label, ops, True)
    if extra:
        lines(STEP_ROW, extra, False)
    print_fn("=" * (width + 45))
    distinct = set(forward) | set(extra)
    statuses = {op: op_status(op) for op in distinct}
    fwd = [op_status(op) for op in forward]
    print_fn(f"{len(distinct)} distinct ops: ONNX {sum(s[0] for s in statuses.values())}/"
             f"{len(distinct)}, TVM {sum(s[1] for s in statuses.values())}/{len(distinct)}; "
             f"forward ops with a gradient rule {sum(g == 'yes' for _, _, g in fwd)}, "
             f"non-differentiable {sum(g == 'n/a' for _, _, g in fwd)}, "
             f"missing {sum(g == 'MISSING' for _, _, g in fwd)}")
    if step_error:
        problems.append(step_error)
    unique = list(dict.fromkeys(problems))
    print_fn("no problems found" if not unique else f"{len(unique)} problem(s): " +
             "; ".join(unique))
    return len(unique)
