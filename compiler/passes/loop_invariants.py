"""Loop invariants: work in a loop body that reads only the loop's constants runs once,
before the loop, instead of at every step.

A gradient's reverse step transposes the recurrent kernel at every step (``g @ U^T``);
moved out, the transpose runs once and the body reads its result as a new constant.
Random draws stay where they are (a draw per step is a draw per step), and so do nested
loops.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph
from graphkeras.compiler.passes._nodes import make_node

STAY = {"random_uniform_like", "random_normal_like", "hash_uniform", "scan"}


def _hoist(graph: Graph, scan) -> list:
    """Move ``scan``'s invariant body nodes out; returns the new outer nodes (to run before it)."""
    a = scan.attrs
    body = a["body"]
    first_const = a["n_carry"] + a["n_seq"]
    outer = {id(v): o for v, o in zip(body.inputs[first_const:], scan.inputs[first_const:])}
    constants = {id(n.outputs[0]): n for n in body.nodes if n.op == "constant"}
    hoisted, replace = [], {}

    def outer_value(v):
        if id(v) not in outer:  # a body constant, copied out once
            node = constants[id(v)]
            copy = make_node(graph, "constant", [], node.attrs, v.name)
            hoisted.append(copy)
            outer[id(v)] = copy.outputs[0]
        return outer[id(v)]

    moved = set()
    for node in body.nodes:
        if node.op in STAY or node.op == "constant" or not node.inputs:
            continue
        if not all(id(v) in outer or id(v) in constants for v in node.inputs):
            continue
        if not any(id(v) in outer for v in node.inputs):
            continue  # constants only: cheap, and CSE/lowering fold them
        copy = make_node(graph, node.op, [outer_value(v) for v in node.inputs], node.attrs,
                         node.outputs[0].name)
        hoisted.append(copy)
        moved.add(id(node))
        outer.update((id(inner), out) for inner, out in zip(node.outputs, copy.outputs))
    if not moved:
        return []
    kept = [n for n in body.nodes if id(n) not in moved]
    for inner in [v for n in body.nodes if id(n) in moved for v in n.outputs]:
        readers = [n for n in kept if any(x is inner for x in n.inputs)]
        if readers or any(x is inner for x in body.outputs):
            fresh = body.add_input(inner.shape, inner.dtype, inner.name + "/hoisted")
            scan.inputs.append(outer[id(inner)])
            replace[id(inner)] = fresh
    for node in kept:
        node.inputs = [replace.get(id(v), v) for v in node.inputs]
    body.outputs = [replace.get(id(v), v) for v in body.outputs]
    body.nodes = kept
    return hoisted


class LoopInvariants:
    def run(self, graph: Graph) -> bool:
        nodes, changed = [], False
        for node in graph.nodes:
            if node.op == "scan":
                hoisted = _hoist(graph, node)
                nodes.extend(hoisted)
                changed |= bool(hoisted)
            nodes.append(node)
        graph.nodes = nodes
        return changed
