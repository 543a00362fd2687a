"""graphkeras' intermediate representation.

A :class:`Graph` is a list of :class:`Node` in topological order. Each node
applies one primitive (looked up by name in the op registry) to input
:class:`Value` objects and defines output values. A value carries a static
shape, in which ``None`` marks a dimension only known at run time (the batch
dimension, usually), and a dtype given as a numpy dtype name.

The JSON form (:func:`graph_to_json` / :func:`graph_from_json`) round-trips
exactly: arrays held in attributes are stored as base64 of their raw bytes.
"""
from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

import numpy as np

DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool")
FLOAT_DTYPES = ("float16", "float32", "float64")


def canonical_dtype(dtype) -> str:
    """Return the canonical dtype name for anything numpy understands."""
    if dtype is None:
        return "float32"
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise TypeError(f"Unsupported dtype {name!r}. Supported dtypes: {', '.join(DTYPES)}.")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


class AVal(NamedTuple):
    """An abstract value: what a shape rule knows about a tensor."""

    shape: tuple
    dtype: str

    def __repr__(self):
        return f"{self.dtype}{list(self.shape)}".replace("None", "?")


class Value:
    """A tensor in a graph: produced by one node, or a graph input."""

    __slots__ = ("shape", "dtype", "name", "producer", "__weakref__")

    def __init__(self, shape, dtype, name=None, producer=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = canonical_dtype(dtype)
        self.name = name
        self.producer = producer

    @property
    def aval(self) -> AVal:
        return AVal(self.shape, self.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"%{self.name}:{self.aval!r}"


class Node:
    __slots__ = ("op", "inputs", "outputs", "attrs")

    def __init__(self, op: str, inputs, outputs, attrs):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.attrs = dict(attrs)

    def __repr__(self):
        outs = ", ".join(repr(v) for v in self.outputs)
        args = [f"%{v.name}" for v in self.inputs] + [f"{k}={_short(v)}" for k, v in self.attrs.items()]
        return f"{outs} = {self.op}({', '.join(args)})"


def _short(v):
    if isinstance(v, Graph):
        return f"<graph {v.name}: {len(v.nodes)} nodes>"
    if isinstance(v, np.ndarray):
        return f"array<{v.dtype}{list(v.shape)}>" if v.size > 4 else repr(v.tolist())
    return repr(v)


class Graph:
    """Inputs, outputs and the nodes between them, in topological order."""

    def __init__(self, name="graph"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self._names: set[str] = set()

    def fresh_name(self, hint: str) -> str:
        hint = hint or "v"
        name, i = hint, 0
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def add_input(self, shape, dtype, name) -> Value:
        value = Value(shape, dtype, self.fresh_name(name))
        self.inputs.append(value)
        return value

    def add_node(self, op: str, inputs, out_avals, attrs, name_hint=None) -> list[Value]:
        node = Node(op, inputs, [], attrs)
        hint = name_hint or op
        node.outputs = [Value(a.shape, a.dtype, self.fresh_name(hint), node) for a in out_avals]
        self.nodes.append(node)
        return node.outputs

    def __repr__(self):
        lines = [f"graph {self.name}(" + ", ".join(repr(v) for v in self.inputs) + ") {"]
        lines += [f"  {n!r}" for n in self.nodes]
        lines.append("  return " + ", ".join(f"%{v.name}" for v in self.outputs))
        lines.append("}")
        return "\n".join(lines)


# ---------------------------------------------------------------- JSON form
def _encode_attr(v):
    if isinstance(v, Graph):  # a loop body
        return {"__graph__": graph_to_dict(v)}
    if isinstance(v, np.ndarray):
        return {"__ndarray__": base64.b64encode(np.ascontiguousarray(v).tobytes()).decode("ascii"),
                "dtype": v.dtype.name, "shape": list(v.shape)}
    if isinstance(v, (tuple, list)):
        return [_encode_attr(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decode_attr(v):
    if isinstance(v, dict) and "__graph__" in v:
        return graph_from_dict(v["__graph__"])
    if isinstance(v, dict) and "__ndarray__" in v:
        raw = base64.b64decode(v["__ndarray__"])
        return np.frombuffer(raw, dtype=v["dtype"]).reshape(v["shape"]).copy()
    if isinstance(v, list):
        return tuple(_decode_attr(x) for x in v)
    return v


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    def val(v: Value):
        return {"name": v.name, "shape": list(v.shape), "dtype": v.dtype}

    return {
        "name": graph.name,
        "inputs": [val(v) for v in graph.inputs],
        "nodes": [{"op": n.op, "inputs": [v.name for v in n.inputs],
                   "outputs": [val(v) for v in n.outputs],
                   "attrs": {k: _encode_attr(a) for k, a in n.attrs.items()}} for n in graph.nodes],
        "outputs": [v.name for v in graph.outputs],
    }


def graph_from_dict(d: dict[str, Any]) -> Graph:
    graph = Graph(d.get("name", "graph"))
    env: dict[str, Value] = {}

    def lookup(name):
        if name not in env:
            raise ValueError(f"Invalid graph JSON: value {name!r} is used before it is defined.")
        return env[name]

    for v in d["inputs"]:
        value = Value(v["shape"], v["dtype"], v["name"])
        graph.inputs.append(value)
        graph._names.add(value.name)
        env[value.name] = value
    for n in d["nodes"]:
        node = Node(n["op"], [lookup(x) for x in n["inputs"]], [],
                    {k: _decode_attr(a) for k, a in n["attrs"].items()})
        for v in n["outputs"]:
            value = Value(v["shape"], v["dtype"], v["name"], node)
            node.outputs.append(value)
            graph._names.add(value.name)
            env[value.name] = value
        graph.nodes.append(node)
    graph.outputs = [lookup(x) for x in d["outputs"]]
    return graph


def graph_to_json(graph: Graph) -> str:
    return json.dumps(graph_to_dict(graph), sort_keys=True)


def graph_from_json(text: str) -> Graph:
    return graph_from_dict(json.loads(text))
