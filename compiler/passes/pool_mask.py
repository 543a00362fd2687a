"""A mask after a max-pool gradient moves before it, onto the pooled grid.

    multiply(max_pool_grad(g, x), cast(cmp(x, c)))
        -> max_pool_grad(multiply(g, cast(cmp(max_pool(x), c))), x)

for a comparison ``cmp`` of x with a one-element constant ``c`` (the gradient of a relu
before the pooling is ``cast(greater(x, 0))``). Exact: max_pool_grad puts each g[o] where
x holds its window's maximum, so there x == max_pool(x)[o] and the mask has the same value;
everywhere else the product is zero either way. The mask is then computed, cast and
multiplied on the pooled tensor (a quarter of x for 2x2 pools) instead of on x, and the
max_pool is the forward one (merged by common subexpressions). Only for a final graph (the
new max_pool_grad input has no gradient rule to differentiate through) and only when the
max-pool gradient has no other reader.
"""
from __future__ import annotations

from graphkeras.compiler.ir import Graph, Node, Value
from graphkeras.compiler.passes._nodes import make_node, uses

COMPARISONS = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}


def _scalar_constant(value):
    node = value.producer
    return node is not None and node.op == "constant" and node.attrs["value"].size == 1


class MaskBeforeMaxPoolGrad:
    def run(self, graph: Graph) -> bool:
        reads = uses(graph)

        def match(node):
            if node.op != "multiply":
                return None
            for grad, mask in (node.inputs, node.inputs[::-1]):
                gnode, cnode = grad.producer, mask.producer
                if gnode is None or gnode.op != "max_pool_grad" or reads.get(id(grad)) != 1:
                    continue
                if cnode is None or cnode.op != "cast" or cnode.attrs["dtype"] != grad.dtype:
                    continue
                pnode = cnode.inputs[0].producer
                if pnode is None or pnode.op not in COMPARISONS:
                    continue
                x = gnode.inputs[1]
                a, b = pnode.inputs
                if not ((a is x and _scalar_constant(b)) or (b is x and _scalar_constant(a))):
                    continue
                if tuple(mask.shape) != tuple(x.shape) or \
                        tuple(node.outputs[0].shape) != tuple(grad.shape) or \
                        node.outputs[0].dtype != grad.dtype:
                    continue
                return gnode, cnode, pnode
            return None

        def add(nodes, op, inputs, attrs, hint):
            nodes.append(make_node(graph, op, inputs, attrs, hint))
            return nodes[-1].outputs[0]

        mapping: dict[int, Value] = {}
        nodes: list[Node] = []
        for node in graph.nodes:
            if any(id(v) in mapping for v in node.inputs):
                node.inputs = [mapping.get(id(v), v) for v in node.inputs]
            found = match(node)
            if found is None:
                nodes.append(node)
                continue
            gnode, cnode, pnode = found
            g, x = gnode.inputs
            pool_attrs = {k: gnode.attrs[k] for k in ("pool", "strides", "padding")}
            y = add(nodes, "max_pool", [x], pool_attrs, "max_pool")
            cmp_inputs = [y if v is x else v for v in pnode.inputs]
            m = add(nodes, pnode.op, cmp_inputs, dict(pnode.attrs), pnode.op)
            m = add(nodes, "cast", [m], dict(cnode.attrs), "cast")
            g = add(nodes, "multiply", [g, m], {}, "multiply")
            new = add(nodes, "max_pool_grad", [g, x], dict(gnode.attrs), "max_pool_grad")
            mapping[id(node.outputs[0])] = new
            reads[id(new)] = reads.get(id(node.outputs[0]), 0)  # it stands for the product
        if not mapping:
            return False
        graph.nodes = nodes
        graph.outputs = [mapping.get(id(v), v) for v in graph.outputs]
        return True
