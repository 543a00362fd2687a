"""Lowering a graph to an ONNX model, one primitive lowering per node."""
from __future__ import annotations

import onnx

from graphkeras.compiler.ir import Graph
from graphkeras.compiler.onnx_builder import DEFAULT_OPSET, OnnxBuilder
from graphkeras.compiler.primitive import PRIMITIVES


def lower(graph: Graph, opset: int = DEFAULT_OPSET, initializers: dict | None = None,
          doc: str = "", output_names: list[str] | None = None) -> onnx.ModelProto:
    """ONNX model for ``graph``. Inputs named in ``initializers`` become initializers
    (their arrays embedded: a self-contained artefact); the others stay graph inputs,
    named as in the IR, so a runtime can bind them."""
    initializers = initializers or {}
    b = OnnxBuilder(opset)
    names: dict[int, str] = {}
    for v in graph.inputs:
        if v.name in initializers:
            b.add_initializer(v.name, initializers[v.name])
        else:
            b.add_input(v.name, v.shape, v.dtype)
        names[id(v)] = v.name
    lower_nodes(b, graph, names)
    name_outputs(b, graph, names, output_names)
    activations_before_transposes(b.nodes, {o.name for o in b.outputs})
    return b.model(graph.name, doc)


def lower_nodes(b: OnnxBuilder, graph: Graph, names: dict) -> None:
    """Append the ONNX nodes of ``graph``'s nodes to ``b``; ``names`` maps id(value)
    to its ONNX name (the inputs' on entry, every value's on exit). While it runs,
    ``b.readers`` maps id(value) to the ops of the nodes that read it, for lowerings whose
    best form depends on how their result or input is used."""
    readers: dict[int, list[str]] = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(id(v), []).append(node.op)
    b.readers = readers
    for node in graph.nodes:
        prim = PRIMITIVES[node.op]
        if prim.onnx is None:
            raise ValueError(f"Op {node.op!r} has no ONNX lowering, so this graph cannot be "
                             "lowered to ONNX.")
        outs = prim.onnx(b, node, *[names[id(v)] for v in node.inputs])
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        for v, name in zip(node.outputs, outs):
            names[id(v)] = name


def name_outputs(b: OnnxBuilder, graph: Graph, names: dict, output_names=None) -> list[str]:
    """Declare ``graph``'s outputs on ``b`` under their own names (``output_names`` or
    the IR's), and return those names."""
    produced = {out for node in b.nodes for out in node.output}
    renames: dict[str, str] = {}
    declared = []
    for i, v in enumerate(graph.outputs):
        # outputs are named (after the model's outputs), so a graph opened in Netron explains
        # itself; the producing node writes the output directly (an Identity would copy it)
        name = b.fresh(output_names[i] if output_names else v.name)
        source = names[id(v)]
        if source in produced and source not in renames:
            renames[source] = name
        else:  # a graph input, a value from an enclosing graph, or a value returned twice
            b.op("Identity", [renames.get(source, source)], outputs=[name])
        b.add_output(name, v.shape, v.dtype)
        declared.append(name)
    _rename(b.nodes, renames)
    return declared


def _rename(nodes, renames):
    """Apply ``renames`` to ``nodes`` and to the loop bodies inside them (which may
    read the renamed values from their enclosing graph)."""
    if not renames:
        return
    for node in nodes:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rename(attr.g.node, renames)


# unary activations ONNX Runtime fuses into a preceding Conv (FusedConv)
ACTIVATIONS = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"}


def activations_before_transposes(nodes, graph_outputs) -> int:
    """``Transpose -> activation`` becomes ``activation -> Transpose`` where the activation is
    the transpose's only reader: the convolution lowerings end in a channels-last Transpose,
    and with the activation moved before it ONNX Runtime fuses Conv + activation (one pass
    fewer) whatever the transposes that follow. Returns how many pairs were swapped."""
    readers: dict[str, int] = {}

    def count(ns):
        for n in ns:
            for name in n.input:
                readers[name] = readers.get(name, 0) + 1
            for attr in n.attribute:  # loop bodies may read values of the graph around them
                if attr.type == onnx.AttributeProto.GRAPH:
                    count(attr.g.node)
                    for out in attr.g.output:
                        readers[out.name] = readers.get(out.name, 0) + 1
    count(nodes)
    position = {out: i for i, n in enumerate(nodes) for out in n.output}
    swapped = 0
    for j, node in enumerate(nodes):
        if node.op_type not in ACTIVATIONS or node.domain not in ("", "ai.onnx") or \
                len(node.input) != 1:
            continue
        i = position.get(node.input[0])
        t = None if i is None else nodes[i]
        if t is None or t.op_type != "Transpose" or readers.get(t.output[0]) != 1 or \
                t.output[0] in graph_outputs:
            continue
        src, mid, dst = t.input[0], t.output[0], node.output[0]
        node.input[0], node.output[0] = src, mid
        t.input[0], t.output[0] = mid, dst
        nodes[i], nodes[j] = node, t  # the activation now reads what the transpose read
        position[mid], position[dst] = i, j
        swapped += 1
    return swapped


def output_names(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]
