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
    return b.model(graph.name, doc)


def lower_nodes(b: OnnxBuilder, graph: Graph, names: dict) -> None:
    """Append the ONNX nodes of ``graph``'s nodes to ``b``; ``names`` maps id(value)
    to its ONNX name (the inputs' on entry, every value's on exit)."""
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


def output_names(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]
