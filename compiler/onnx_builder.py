"""The one place that builds ONNX protobufs.

:class:`OnnxBuilder` names values, collects nodes and initializers, and hides
the few operator signatures that changed between opsets (reductions took
``axes`` as an attribute before opset 18 and as an input from then on;
``ReduceSum`` switched at 13, which is below the smallest opset we emit).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIN_OPSET = 17
DEFAULT_OPSET = 17

ONNX_DTYPE = {
    "float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
    "int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int32": TensorProto.INT32,
    "int64": TensorProto.INT64, "bool": TensorProto.BOOL,
}


class OnnxBuilder:
    def __init__(self, opset: int = DEFAULT_OPSET):
        if opset < MIN_OPSET:
            raise ValueError(f"opset {opset} is too old: graphkeras emits opset {MIN_OPSET} or newer.")
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._next: dict[str, int] = {}  # per hint, the suffix to try first (fresh is O(1))
        self._const_cache: dict[tuple, str] = {}

    def fresh(self, hint: str) -> str:
        i = self._next.get(hint, 0)  # every suffix below it is taken already
        name = f"{hint}_{i}" if i else hint
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._next[hint] = i
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"ONNX value name {name!r} is used twice.")
        self._names.add(name)
        return name

    def op(self, op_type: str, inputs, n_out: int = 1, name: str | None = None,
           outputs: list[str] | None = None, **attrs):
        """Append a node; returns its output name (or list of names if n_out > 1)."""
        hint = name or op_type.lower()
        outs = outputs or [self.fresh(hint) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.fresh("n/" + hint),
                                           **attrs))
        return outs[0] if n_out == 1 and outputs is None else outs

    def const(self, array, dtype=None, name: str = "const") -> str:
        array = np.asarray(array, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._const_cache:
            return self._const_cache[key]
        out = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(array, out))
        if key is not None:
            self._const_cache[key] = out
        return out

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), name="ints")

    def add_input(self, name, shape, dtype):
        self.reserve(name)
        self.inputs.append(helper.make_tensor_value_info(name, ONNX_DTYPE[dtype], _dims(shape)))

    def add_output(self, name, shape, dtype):
        self.outputs.append(helper.make_tensor_value_info(name, ONNX_DTYPE[dtype], _dims(shape)))

    def body_input(self, hint, shape, dtype) -> str:
        """A fresh input of a loop body (see :meth:`subgraph`); returns its name."""
        name = self.fresh(hint)
        self.inputs.append(helper.make_tensor_value_info(name, ONNX_DTYPE[dtype], _dims(shape)))
        return name

    def body_output(self, name, shape, dtype):
        self.outputs.append(helper.make_tensor_value_info(name, ONNX_DTYPE[dtype], _dims(shape)))

    def add_initializer(self, name, array):
        self.reserve(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))

    # ops whose signature depends on the opset ------------------------
    def reduce(self, op_type: str, x: str, axes, keepdims: bool, name=None) -> str:
        keep = int(bool(keepdims))
        if axes is None:
            return self.op(op_type, [x], keepdims=keep, name=name)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=keep, name=name)
        return self.op(op_type, [x], axes=list(axes), keepdims=keep, name=name)

    def unsqueeze(self, x, axes, name=None):
        return self.op("Unsqueeze", [x, self.ints(axes)], name=name)

    def squeeze(self, x, axes, name=None):
        return self.op("Squeeze", [x, self.ints(axes)], name=name)

    def transpose(self, x, perm, name=None):
        if list(perm) == list(range(len(perm))):
            return x
        return self.op("Transpose", [x], perm=list(perm), name=name)

    def cast(self, x, dtype, name=None):
        return self.op("Cast", [x], to=ONNX_DTYPE[dtype], name=name)

    def subgraph(self) -> "OnnxBuilder":
        """A builder for a loop body: its own nodes, inputs and outputs; names,
        constants and initializers shared with this one (a body reads the
        constants of the graphs around it, as ONNX scoping allows)."""
        sub = OnnxBuilder.__new__(OnnxBuilder)
        sub.opset = self.opset
        sub.nodes, sub.inputs, sub.outputs = [], [], []
        sub.initializers = self.initializers
        sub._names = self._names
        sub._next = getattr(self, "_next", {})
        sub._const_cache = self._const_cache
        return sub

    def graph(self, name) -> onnx.GraphProto:
        """This builder's nodes as a body graph (see :meth:`subgraph`)."""
        return helper.make_graph(self.nodes, name, self.inputs, self.outputs)

    def model(self, graph_name="graphkeras", doc="") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs,
                                  self.initializers, doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="graphkeras")
        model.ir_version = min(model.ir_version, 8 if self.opset <= 17 else 9)
        return model


def _dims(shape):
    return [("batch" if i == 0 else None) if d is None else int(d) for i, d in enumerate(shape)]
