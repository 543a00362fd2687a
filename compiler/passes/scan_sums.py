"""A loop that sums a product per step computes the sum as one product after the loop.

    carry_t+1 = carry_t + transpose(s_t) @ d_t      (s_t: row t of a sequence the loop reads)
        ->  final = init + transpose(reshape(s, (-1, k))) @ reshape(d, (-1, n))

where ``d`` stacks the per-step ``d_t`` (a loop output, added if the loop did not
already produce it). This is the recurrent kernel's gradient in an RNN's reverse step
(``h_t^T @ dgates_t`` summed over time): one big product instead of one small product and
one add per step, as cuDNN and oneDNN compute it. The carry must be read by nothing but
its own sum, and the loop must keep no per-step carries (a forward loop that will be
differentiated does).
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, Value
from graphkeras.compiler.passes._nodes import make_node, uses
from graphkeras.compiler.primitive import PRIMITIVES


def _product_sum(body: Graph, i: int, n_carry: int, n_seq: int, count):
    """``(j, d)``: carry ``i`` sums ``transpose(slice of sequence j) @ d`` each step; else None."""
    carry, new = body.inputs[i], body.outputs[i]
    node = new.producer
    if node is None or node.op != "add" or count.get(id(carry)) != 1 or count.get(id(new)) != 1:
        return None
    others = [v for v in node.inputs if v is not carry]
    if len(others) != 1 or len(node.inputs) != 2:
        return None
    product = others[0].producer
    if product is None or product.op != "matmul" or count.get(id(others[0])) != 1 or \
            product.outputs[0].shape != carry.shape:
        return None
    t, d = product.inputs
    if t.producer is None or t.producer.op != "transpose" or tuple(t.producer.attrs["perm"]) != (1, 0):
        return None
    s = t.producer.inputs[0]
    seqs = body.inputs[n_carry:n_carry + n_seq]
    j = next((k for k, v in enumerate(seqs) if v is s), None)
    if j is None or len(s.shape) != 2 or len(d.shape) != 2 or None in (s.shape[1], d.shape[1]):
        return None
    return j, d


def _rewrite(graph: Graph, scan) -> tuple[list, dict]:
    a = scan.attrs
    body, n_carry, n_seq = a["body"], a["n_carry"], a["n_seq"]
    count = uses(body)
    found = [(i, m) for i in range(n_carry) if (m := _product_sum(body, i, n_carry, n_seq, count))]
    if not found or a["n_residual"]:
        return [], {}
    after, replace = [], {}
    stacked = {}  # id(d) -> the loop output stacking it
    ys_body = body.outputs[n_carry:]
    for k, v in enumerate(ys_body):
        stacked.setdefault(id(v), scan.outputs[n_carry + k])
    for i, (j, d) in found:
        if id(d) not in stacked:
            body.outputs.append(d)
            aval = PRIMITIVES["scan"].abstract_eval([v.aval for v in scan.inputs], a)[-1]
            out = Value(aval.shape, aval.dtype, graph.fresh_name(d.name), scan)
            scan.outputs.append(out)
            stacked[id(d)] = out
    gone = {i for i, _ in found}
    init = {i: scan.inputs[i] for i in gone}
    final = {i: scan.outputs[i] for i in gone}
    s_outer = {i: scan.inputs[n_carry + j] for i, (j, _) in found}
    d_outer = {i: stacked[id(d)] for i, (_, d) in found}
    body.inputs = [v for k, v in enumerate(body.inputs) if k not in gone]
    body.outputs = [v for k, v in enumerate(body.outputs) if k not in gone]
    scan.inputs = [v for k, v in enumerate(scan.inputs) if k not in gone]
    scan.outputs = [v for k, v in enumerate(scan.outputs) if k not in gone]
    a["n_carry"] = n_carry - len(gone)
    for i, (j, d) in found:
        rows_s = make_node(graph, "reshape", [s_outer[i]], {"shape": (-1, s_outer[i].shape[-1])})
        rows_d = make_node(graph, "reshape", [d_outer[i]], {"shape": (-1, d.shape[-1])})
        t = make_node(graph, "transpose", rows_s.outputs, {"perm": (1, 0)})
        product = make_node(graph, "matmul", t.outputs + rows_d.outputs)
        total = make_node(graph, "add", [init[i], product.outputs[0]])
        after += [rows_s, rows_d, t, product, total]
        replace[id(final[i])] = total.outputs[0]
    return after, replace


class ScanProductSums:
    def run(self, graph: Graph) -> bool:
        from graphkeras.compiler.passes.dce import DeadCode
        nodes, replace = [], {}
        for node in graph.nodes:
            if replace:
                node.inputs = [replace.get(id(v), v) for v in node.inputs]
            nodes.append(node)
            if node.op == "scan":
                after, new = _rewrite(graph, node)
                if after:
                    DeadCode().run(node.attrs["body"])
                nodes.extend(after)
                replace.update(new)
        if not replace:
            return False
        graph.nodes = nodes
        graph.outputs = [replace.get(id(v), v) for v in graph.outputs]
        return True
