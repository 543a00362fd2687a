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
    for node in graph.nodes:
        prim = PRIMITIVES[node.op]
        if prim.onnx is None:
            raise ValueError(f"Op {node.op!r} has no ONNX lowering, so this graph cannot be "
                             "lowered to ONNX.")
        outs = prim.onnx(b, node, *[names[id(v)] for v in node.inputs])
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        for v, name in zip(node.outputs, outs):
            names[id(v)] = name
    produced = {out for node in b.nodes for out in node.output}
    renames: dict[str, str] = {}
    for i, v in enumerate(graph.outputs):
        # outputs are named (after the model's outputs), so a graph opened in Netron explains
        # itself; the producing node writes the output directly (an Identity would copy it)
        name = b.fresh(output_names[i] if output_names else v.name)
        source = names[id(v)]
        if source in produced and source not in renames:
            renames[source] = name
        else:  # a graph input, or a value returned twice
            b.op("Identity", [renames.get(source, source)], outputs=[name])
        b.add_output(name, v.shape, v.dtype)
    for node in b.nodes:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    return b.model(graph.name, doc)


def output_names(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]
