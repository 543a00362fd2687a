"""A loop's gradient reads the forward loop's costly values instead of computing them again.

A scan's gradient is a second scan, the other way (see ``compiler/ops/control.py``):
each reverse step replays its forward step from the carry it started from, then applies
the gradient rules. Replaying is simple and needs little memory, but it runs every
matrix product and every transcendental function of the forward step twice: an LSTM's
``h @ U`` and its gate activations, at every step.

This pass finds such a pair (a forward scan that keeps its per-step carries, and the
reverse scan that reads them) and splits the reverse body's replayed part:

- values made by products, transcendental functions, reductions and the like are *saved*:
  the forward body outputs them per step (the same nodes, merged with its own by common
  subexpressions) and the reverse body reads them as sequences;
- cheap elementwise and layout work (slices of the saved gates, ``1 - s``, ...) is
  recomputed in the reverse body, which costs less than storing and reading it back.

This is the "save the dots" policy of JAX's checkpointing, widened to every costly op.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, Value
from graphkeras.compiler.passes._nodes import make_node
from graphkeras.compiler.primitive import PRIMITIVES

# recomputed in the reverse step; every other op's values are saved by the forward loop
CHEAP = {"abs", "add", "subtract", "multiply", "divide", "negative", "maximum", "minimum",
         "relu", "where", "cast", "sign", "equal", "less", "less_equal", "greater",
         "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
         "constant", "broadcast_like", "concat", "pad", "slice", "reshape", "reshape_like",
         "squeeze", "unsqueeze", "transpose", "stop_gradient", "dim_size", "arange_like"}
# never moved into the forward loop: a draw there would not be the draw the reverse step made
NEVER = {"random_uniform_like", "random_normal_like", "hash_uniform", "scan"}


def _forward_values(graph_nodes, back):
    """The forward scan ``back`` differentiates, and a map from ``back``'s body inputs to the
    forward body values they stand for; None if ``back`` is not such a reverse scan."""
    b = back.attrs
    first_seq, first_const = b["n_carry"], b["n_carry"] + b["n_seq"]
    residual_of = {id(v): n for n in graph_nodes if n.op == "scan" and n.attrs["n_residual"]
                   for v in n.outputs[len(n.outputs) - n.attrs["n_residual"]:]}
    forward = next((residual_of[id(v)] for v in back.inputs[first_seq:first_const]
                    if id(v) in residual_of), None)
    if forward is None or forward.attrs["reverse"] == b["reverse"]:
        return None
    f = forward.attrs
    f_body, f_first_const = f["body"], f["n_carry"] + f["n_seq"]
    first_residual = len(forward.outputs) - f["n_residual"]
    known = {}  # id(outer value) -> forward body value
    for k, out in enumerate(forward.outputs[first_residual:]):
        known[id(out)] = f_body.inputs[k]  # the carry each step started from
    for k, seq in enumerate(forward.inputs[f["n_carry"]:f_first_const]):
        known.setdefault(id(seq), f_body.inputs[f["n_carry"] + k])
    for k, const in enumerate(forward.inputs[f_first_const:]):
        known.setdefault(id(const), f_body.inputs[f_first_const + k])
    body = b["body"]
    mapped = {}
    for inner, outer in zip(body.inputs[first_seq:], back.inputs[first_seq:]):
        if id(outer) in known:
            mapped[id(inner)] = known[id(outer)]
    return forward, mapped


def _saved_values(body: Graph, mapped) -> list[Value]:
    """The costly forward values the reverse body computes: what the forward loop will save."""
    primal = set(mapped)
    primal_nodes = set()
    for node in body.nodes:
        if node.op not in NEVER and all(id(v) in primal for v in node.inputs):
            primal_nodes.add(id(node))
            primal.update(id(v) for v in node.outputs)
    saved, seen = [], set()

    def need(v):
        if id(v) in seen or v.producer is None:
            return
        seen.add(id(v))
        if v.producer.op in CHEAP:
            for x in v.producer.inputs:
                need(x)
        else:
            saved.append(v)

    for node in body.nodes:
        if id(node) not in primal_nodes:
            for v in node.inputs:
                if id(v) in primal:
                    need(v)
    for v in body.outputs:
        if id(v) in primal:
            need(v)
    return saved


def _save(graph: Graph, forward, back, mapped, saved) -> None:
    f, b = forward.attrs, back.attrs
    f_body, body = f["body"], b["body"]
    clones = dict(mapped)  # id(reverse body value) -> forward body value

    def clone(v):
        if id(v) not in clones:
            node = v.producer
            copy = make_node(f_body, node.op, [clone(x) for x in node.inputs], node.attrs,
                             v.name)
            f_body.nodes.append(copy)
            clones.update((id(o), c) for o, c in zip(node.outputs, copy.outputs))
        return clones[id(v)]

    at_body = len(f_body.outputs) - f["n_residual"]
    at_node = len(forward.outputs) - f["n_residual"]
    replace = {}
    for k, v in enumerate(saved):
        f_body.outputs.insert(at_body + k, clone(v))
    steps_aval = PRIMITIVES["scan"].abstract_eval([x.aval for x in forward.inputs], f)
    for k, v in enumerate(saved):
        aval = steps_aval[at_node + k]
        stacked = Value(aval.shape, aval.dtype, graph.fresh_name(v.name + "/saved"), forward)
        forward.outputs.insert(at_node + k, stacked)
        at = b["n_carry"] + b["n_seq"]
        inner = Value(v.shape, v.dtype, body.fresh_name(v.name + "/saved"))
        body.inputs.insert(at, inner)
        back.inputs.insert(at, stacked)
        b["n_seq"] += 1
        replace[id(v)] = inner
    for node in body.nodes:
        node.inputs = [replace.get(id(x), x) for x in node.inputs]
    body.outputs = [replace.get(id(x), x) for x in body.outputs]


class ScanResiduals:
    def run(self, graph: Graph) -> bool:
        from graphkeras.compiler.passes import PIPELINE, optimize
        changed = False
        for node in graph.nodes:
            if node.op != "scan" or node.attrs["n_residual"]:
                continue
            pair = _forward_values(graph.nodes, node)
            if pair is None:
                continue
            forward, mapped = pair
            saved = _saved_values(node.attrs["body"], mapped)
            if not saved:
                continue
            _save(graph, forward, node, mapped, saved)
            optimize(forward.attrs["body"], PIPELINE)
            optimize(node.attrs["body"], PIPELINE)
            changed = True
        return changed
