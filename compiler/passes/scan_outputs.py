"""Unused scan outputs and inputs: what nothing reads is dropped from the loop.

A traced scan keeps the carry of every step as residual outputs, for its gradient
(see ``compiler/ops/control.py``). Once a graph is final (no gradient will be
added), this pass removes the residuals and any other stacked output nothing
reads, then cleans the body, so a loop stores only what is used. Sequences and
constants the body no longer reads (a reverse step that reads saved values instead
of replaying its forward step) are dropped too, so no step slices them; one sequence
always stays, as it gives the number of steps.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph


class PruneScanOutputs:
    def run(self, graph: Graph) -> bool:
        from graphkeras.compiler.passes import FINAL_PIPELINE, optimize
        used = {id(v) for v in graph.outputs}
        for node in graph.nodes:
            used.update(id(v) for v in node.inputs)
        changed = False
        for node in graph.nodes:
            if node.op != "scan":
                continue
            a = node.attrs
            body, n_carry = a["body"], a["n_carry"]
            n_out = len(node.outputs)
            first_residual = n_out - a["n_residual"]
            keep = list(range(n_carry))
            keep += [i for i in range(n_carry, first_residual) if id(node.outputs[i]) in used]
            residual_used = any(id(v) in used for v in node.outputs[first_residual:])
            if residual_used:
                keep += list(range(first_residual, n_out))
            if len(keep) != n_out:
                body.outputs = [body.outputs[i] for i in keep]
                node.outputs = [node.outputs[i] for i in keep]
                a["n_residual"] = a["n_residual"] if residual_used else 0
                changed = True
                optimize(body, FINAL_PIPELINE)
            elif any(n.op == "scan" for n in body.nodes):
                optimize(body, FINAL_PIPELINE)  # nested loops may have outputs to drop
            changed |= _drop_unread_inputs(node)
        return changed


def _drop_unread_inputs(node) -> bool:
    a = node.attrs
    body, n_carry, n_seq = a["body"], a["n_carry"], a["n_seq"]
    read = {id(v) for n in body.nodes for v in n.inputs} | {id(v) for v in body.outputs}
    unread = [k for k in range(n_carry, len(body.inputs)) if id(body.inputs[k]) not in read]
    seqs_unread = [k for k in unread if k < n_carry + n_seq]
    if n_seq and len(seqs_unread) == n_seq:
        unread.remove(seqs_unread[0])  # the step count comes from a sequence
    if not unread:
        return False
    drop = set(unread)
    body.inputs = [v for k, v in enumerate(body.inputs) if k not in drop]
    node.inputs = [v for k, v in enumerate(node.inputs) if k not in drop]
    a["n_seq"] = n_seq - sum(1 for k in drop if k < n_carry + n_seq)
    return True
