"""Loops: ``scan`` runs a traced body once per step, carrying state from step to step.

One primitive serves every loop graphkeras compiles: ``steps_per_execution``
(the body is a whole train step, its state the carry) and recurrent layers
(the body is a cell, the carry its hidden state, the sequence its input).

The node: inputs ``carry_init... , sequences..., constants...``; attribute
``body``, a :class:`Graph` with inputs ``carry..., slices..., constants...``
and outputs ``new_carry..., y...``; outputs ``final_carry..., ys...`` where
each ``ys`` stacks the per-step ``y`` along a new leading axis, in sequence
order (also when ``reverse``, which walks the sequences from the end, as
``jax.lax.scan(reverse=True)`` does).

Tracing (``scan(fn, init, xs)``) records ``fn`` into a child trace: tensors of
the enclosing graph and variables that ``fn`` only reads become the body's
constants; variables ``fn`` assigns become extra carries (so an optimizer step
inside the body updates the weights step after step); ``fn``'s outputs become
the carries and ``y``s. Lowered to ONNX as one ``Loop``: constants are read
from the enclosing graph by name, sequences sliced with ``Gather`` by the
iteration number.

The gradient runs a second scan the other way: each step recomputes its body
from the carry it started from (kept as residual outputs of the forward scan,
which :class:`graphkeras.compiler.passes.PruneScanOutputs` drops when nothing
differentiates) and applies the body's own gradient rules.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import AVal, Graph, is_float
from graphkeras.compiler.primitive import PRIMITIVES, Primitive, Tensor, Trace, current_trace


def _scan_rule(*avals, body, n_carry, n_seq, reverse, length, n_residual):
    carry, seqs = avals[:n_carry], avals[n_carry:n_carry + n_seq]
    lengths = {s.shape[0] for s in seqs} if seqs else {length}
    if len(lengths) > 1 and None not in lengths:
        raise ValueError(f"scan: sequences differ in length: {sorted(lengths)}.")
    steps = next((n for n in lengths if n is not None), None)
    body_in = [v.aval for v in body.inputs]
    expected = list(carry) + [AVal(s.shape[1:], s.dtype) for s in seqs] + list(avals[n_carry + n_seq:])
    if len(body_in) != len(expected) or any(
            a.dtype != b.dtype or len(a.shape) != len(b.shape) for a, b in zip(body_in, expected)):
        raise ValueError(f"scan: the body takes {body_in}; received {expected}.")
    out = [v.aval for v in body.outputs]
    for a, b in zip(out[:n_carry], carry):
        if a.dtype != b.dtype or len(a.shape) != len(b.shape):
            raise ValueError(f"scan: the body returns carry {a} for carry {b}; a carry must keep "
                             "its dtype and rank.")
    return list(carry) + [AVal((steps,) + a.shape, a.dtype) for a in out[n_carry:]]


scan_p = Primitive("scan", _scan_rule, multiple_results=True)


@scan_p.def_impl
def _(*arrays, body, n_carry, n_seq, reverse, length, n_residual):
    from graphkeras.compiler.interpreter import evaluate
    carry = list(arrays[:n_carry])
    seqs = arrays[n_carry:n_carry + n_seq]
    consts = list(arrays[n_carry + n_seq:])
    steps = seqs[0].shape[0] if seqs else length
    ys = []
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        outs = evaluate(body, carry + [s[t] for s in seqs] + consts)
        carry, y = outs[:n_carry], outs[n_carry:]
        ys.append(y)
    if reverse:
        ys.reverse()
    stacked = []
    for i, v in enumerate(body.outputs[n_carry:]):
        if ys:
            stacked.append(np.stack([y[i] for y in ys]))
        else:
            shape = tuple(0 if d is None else d for d in v.shape)
            stacked.append(np.zeros((0,) + shape, v.dtype))
    return [np.asarray(c) for c in carry] + stacked


@scan_p.def_onnx
def _(b, node, *names):
    from graphkeras.compiler.lower_onnx import lower_nodes, name_outputs
    attrs = node.attrs
    body, n_carry, n_seq = attrs["body"], attrs["n_carry"], attrs["n_seq"]
    carry, seqs, consts = names[:n_carry], names[n_carry:n_carry + n_seq], names[n_carry + n_seq:]
    if seqs:
        steps = b.op("Gather", [b.op("Shape", [seqs[0]]), b.const(np.asarray(0, np.int64))], axis=0)
    else:
        steps = b.const(np.asarray(attrs["length"], np.int64))
    sub = b.subgraph()
    it = sub.body_input("scan/step", (), "int64")
    cond_in = sub.body_input("scan/cond", (), "bool")
    local: dict[int, str] = {}
    for v in body.inputs[:n_carry]:
        local[id(v)] = sub.body_input("scan/" + v.name, v.shape, v.dtype)
    index = it
    if attrs["reverse"]:
        last = sub.op("Sub", [steps, b.const(np.asarray(1, np.int64))])
        index = sub.op("Sub", [last, it])
    for v, seq in zip(body.inputs[n_carry:n_carry + n_seq], seqs):
        local[id(v)] = sub.op("Gather", [seq, index], axis=0, name="scan/slice")
    for v, outer in zip(body.inputs[n_carry + n_seq:], consts):
        local[id(v)] = outer  # read from the enclosing graph by name
    lower_nodes(sub, body, local)
    cond_out = sub.op("Identity", [cond_in], name="scan/cond_out")
    sub.body_output(cond_out, (), "bool")
    name_outputs(sub, body, local, [f"scan/out{i}" for i in range(len(body.outputs))])
    outs = b.op("Loop", [steps, "", *carry], n_out=len(node.outputs), name="scan",
                body=sub.graph(b.fresh("scan_body")))
    outs = list(outs) if isinstance(outs, list) else [outs]
    if attrs["reverse"]:  # Loop stacks in step order; scan's ys are in sequence order
        flip = [b.const(np.asarray([-1], np.int64)), b.const(np.asarray([np.iinfo(np.int64).min], np.int64)),
                b.const(np.asarray([0], np.int64)), b.const(np.asarray([-1], np.int64))]
        outs[n_carry:] = [b.op("Slice", [y, *flip], name="scan/reverse") for y in outs[n_carry:]]
    return outs


@scan_p.def_vjp
def _(gs, outs, *ins, body, n_carry, n_seq, reverse, length, n_residual):
    from graphkeras.compiler import ops
    from graphkeras.compiler.autodiff import grad
    from graphkeras.compiler.ops.shape import broadcast_like
    carry_in, seqs = ins[:n_carry], ins[n_carry:n_carry + n_seq]
    consts = ins[n_carry + n_seq:]
    n_y = len(body.outputs) - n_carry
    residuals = outs[len(outs) - n_residual:] if n_residual else []
    if len(residuals) != n_carry:
        raise ValueError("scan: differentiating a scan needs the carries of every step; this "
                         "scan was built without them.")
    g_final, g_ys = gs[:n_carry], gs[n_carry:n_carry + n_y - n_residual]
    diff_carry = [i for i, c in enumerate(carry_in) if is_float(c.dtype)]
    diff_const = [i for i, k in enumerate(consts) if is_float(k.dtype)]
    with_g = [i for i, g in enumerate(g_ys) if g is not None]

    def zeros(x):
        return broadcast_like(np.zeros((), x.dtype), x)

    init = [g_final[i] if g_final[i] is not None else zeros(carry_in[i]) for i in diff_carry]
    init += [zeros(consts[i]) for i in diff_const]
    backward_seqs = list(residuals) + list(seqs) + [g_ys[i] for i in with_g]

    def step(carry, xs):
        g_carry, g_const = carry[:len(diff_carry)], carry[len(diff_carry):]
        c, x, gy = xs[:n_carry], xs[n_carry:n_carry + n_seq], xs[n_carry + n_seq:]
        # the constants as values of this body, so the gradient reaches them (an op on
        # constants alone would otherwise be recorded in the enclosing graph)
        k = [Tensor(current_trace().lift(t), current_trace()) for t in consts]
        out = call_graph(body, list(c) + list(x) + list(k))
        new_c, y = out[:n_carry], out[n_carry:]
        seeded = [new_c[i] for i in diff_carry] + [y[i] for i in with_g]
        wrt = [c[i] for i in diff_carry] + list(x) + [k[i] for i in diff_const]
        grads = grad(seeded, wrt, list(g_carry) + list(gy))
        grads = [zeros(w) if g is None else g for g, w in zip(grads, wrt)]
        dc = grads[:len(diff_carry)]
        dx = grads[len(diff_carry):len(diff_carry) + n_seq]
        dk = grads[len(diff_carry) + n_seq:]
        return dc + [ops.add(a, d) for a, d in zip(g_const, dk)], dx

    final, dxs = scan(step, init, backward_seqs, reverse=not reverse, name="scan_grad",
                      residuals=False)
    result = [None] * len(ins)
    for j, i in enumerate(diff_carry):
        result[i] = final[j]
    for j in range(n_seq):
        result[n_carry + j] = dxs[j] if is_float(seqs[j].dtype) else None
    for j, i in enumerate(diff_const):
        result[n_carry + n_seq + i] = final[len(diff_carry) + j]
    return result


def call_graph(graph: Graph, inputs) -> list:
    """Replay ``graph``'s nodes on ``inputs`` (tensors of the active trace, or arrays)."""
    env = {id(v): x for v, x in zip(graph.inputs, inputs)}
    for node in graph.nodes:
        prim = PRIMITIVES[node.op]
        out = prim.bind(*[env[id(v)] for v in node.inputs], **node.attrs)
        for v, x in zip(node.outputs, out if prim.multiple_results else [out]):
            env[id(v)] = x
    return [env[id(v)] for v in graph.outputs]


def scan(fn, init, xs=(), length=None, reverse=False, name="scan", residuals=True):
    """Loop ``fn(carry, x) -> (new_carry, y)`` over the leading axis of ``xs``.

    ``init`` and ``xs`` are lists; ``carry`` and ``x`` are lists too (``x`` holds one
    slice of each sequence). Returns ``(final_carry, ys)``, lists, ``ys`` stacked in
    sequence order. With no sequences, ``length`` gives the number of steps.
    Eagerly (no tensor argument is symbolic and no trace is active) this is a plain
    Python loop; traced, it is one ``scan`` node (see the module docstring).
    """
    init, xs = list(init), list(xs)
    outer = _enclosing_trace(init + xs)
    if outer is None:
        return _scan_eager(fn, init, xs, length, reverse)
    if not xs and length is None:
        raise ValueError("scan: with no sequences to scan over, give `length`.")
    child = Trace(name, parent=outer)
    with child:
        carry = [child.input(_shape(c), _dtype(c), f"carry{i}") for i, c in enumerate(init)]
        slices = [child.input(_shape(x)[1:], _dtype(x), f"x{i}") for i, x in enumerate(xs)]
        new_carry, ys = fn(list(carry), list(slices))
        new_carry, ys = list(new_carry), list(ys)
        if len(new_carry) != len(init):
            raise ValueError(f"scan: the body returned {len(new_carry)} carries for {len(init)}.")
        new_carry = [child.lift(t) for t in new_carry]
        ys = [child.lift(t) for t in ys]
    graph = child.graph
    # variables the body assigns are carries too; those it only reads are constants
    var_carry, var_init, var_new = [], [], []
    for key, (var, tensor) in child.updates.items():
        entry = child.params.get(key)
        value = entry[1] if entry else graph.add_input(tensor.shape, tensor.dtype, "unread")
        var_carry.append(value)
        var_init.append(outer.param(var, value.shape, value.dtype, _var_name(var, value)))
        var_new.append((var, child.lift(tensor)))
    const_in, const_outer = [], []
    for key, (var, value) in child.params.items():
        if key not in child.updates:
            const_in.append(value)
            const_outer.append(outer.param(var, value.shape, value.dtype, _var_name(var, value)))
    for outer_tensor, value in child.captures.values():
        const_in.append(value)
        const_outer.append(outer_tensor)
    carry_values = [t.value for t in carry] + var_carry
    n_carry = len(carry_values)
    graph.inputs = carry_values + [t.value for t in slices] + const_in
    carry_out = new_carry + [v for _, v in var_new]
    graph.outputs = carry_out + ys + (carry_values if residuals else [])
    from graphkeras.compiler.passes import optimize
    optimize(graph)
    outs = scan_p.bind(*init, *var_init, *xs, *const_outer, body=graph, n_carry=n_carry,
                       n_seq=len(xs), reverse=bool(reverse), length=length,
                       n_residual=n_carry if residuals else 0)
    for (var, _), final in zip(var_new, outs[len(init):n_carry]):
        outer.assign(var, final)
    n_y = len(ys)
    return outs[:len(init)], outs[n_carry:n_carry + n_y]


def _var_name(var, value):
    return getattr(var, "path", None) or value.name


def _enclosing_trace(args):
    traces = [a.trace for a in args if isinstance(a, Tensor)]
    if traces:
        return max(traces, key=lambda t: t.depth)
    return current_trace()


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _dtype(x):
    return x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype.name


def _scan_eager(fn, init, xs, length, reverse):
    xs = [np.asarray(x) for x in xs]
    steps = xs[0].shape[0] if xs else length
    carry, ys = list(init), []
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        carry, y = fn(list(carry), [x[t] for x in xs])
        carry, y = list(carry), list(y)
        ys.append([np.asarray(v) for v in y])
    if reverse:
        ys.reverse()
    stacked = [np.stack(col) for col in zip(*ys)] if ys else []
    return [np.asarray(c) for c in carry], stacked


__all__ = ["scan", "call_graph"]
