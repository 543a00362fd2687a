"""Functional-API graph building: ``KerasTensor`` and ``Node``.

Calling a layer on KerasTensors (from ``gk.Input``) runs no computation: the
layer's ``call`` is traced once on placeholders to infer output shapes, and a
``Node`` records which layer produced which tensors from which. Models replay
these nodes when they are traced for compilation.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import canonical_dtype


class KerasTensor:
    """A symbolic model input or layer output in the functional API."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = canonical_dtype(dtype)
        self.name = name
        self._keras_history = None  # (layer, node_index, tensor_index)
        self._keras_mask = None  # a KerasTensor (shape/dtype only) when the value carries a mask

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def node(self):
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self):
        layer = self._keras_history[0].name if self._keras_history else None
        return (f"<KerasTensor: shape={self.shape} dtype={self.dtype} "
                f"(created by layer '{layer}')>")

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError("A KerasTensor is symbolic: it has no truth value. Use gk.ops "
                        "functions or a Lambda layer to compute with it.")

    def __len__(self):
        raise TypeError("len() is not supported on a KerasTensor; use tensor.shape.")

    # Operators record TFOpLambda layers under tf.keras' function names, so the
    # model's JSON reads the same in tf.keras.
    def _op(function, reflected=False):
        def method(self, other):
            from graphkeras.layers.op_lambda import apply_op
            if not isinstance(other, KerasTensor):
                other = np.asarray(other, dtype=self.dtype)
            if reflected:
                return apply_op(function, other, y=self)
            return apply_op(function, self, y=other)
        return method

    __add__, __radd__ = _op("__operators__.add"), _op("__operators__.add", True)
    __sub__, __rsub__ = _op("math.subtract"), _op("math.subtract", True)
    __mul__, __rmul__ = _op("math.multiply"), _op("math.multiply", True)
    __truediv__, __rtruediv__ = _op("math.truediv"), _op("math.truediv", True)
    __pow__, __rpow__ = _op("math.pow"), _op("math.pow", True)
    __matmul__ = _op("linalg.matmul")
    __gt__, __lt__ = _op("math.greater"), _op("math.less")
    __ge__, __le__ = _op("math.greater_equal"), _op("math.less_equal")
    del _op

    def __neg__(self):
        from graphkeras.layers.op_lambda import apply_op
        return apply_op("math.negative", self)

    def __abs__(self):
        from graphkeras.layers.op_lambda import apply_op
        return apply_op("math.abs", self)

    def __getitem__(self, index):
        from graphkeras.layers.op_lambda import apply_op
        return apply_op("__operators__.getitem", self, slice_spec=_slice_spec(index))

    def __array__(self, *args, **kwargs):
        raise TypeError("You are passing a KerasTensor (a symbolic placeholder of the functional "
                        "API) where a concrete value is needed. Wrap the computation in a layer "
                        "(e.g. gk.layers.Lambda) instead.")


def _slice_spec(index):
    """An index as tf.keras writes it in a SlicingOpLambda/TFOpLambda config."""
    def one(i):
        if isinstance(i, slice):
            return {"start": i.start, "stop": i.stop, "step": i.step}
        if i is Ellipsis:
            return "..."
        return i
    return [one(i) for i in index] if isinstance(index, tuple) else one(index)


def flatten(structure) -> list:
    """Leaves of nested lists/tuples/dicts (dicts in sorted-key order)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def pack_like(structure, leaves):
    """Inverse of :func:`flatten`: rebuild ``structure`` with new leaves."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, list):
            return [build(x) for x in s]
        if isinstance(s, tuple):
            return tuple(build(x) for x in s)
        if isinstance(s, dict):
            rebuilt = {k: build(s[k]) for k in sorted(s)}
            return {k: rebuilt[k] for k in s}
        return next(it)

    return build(structure)


class Node:
    """One call of ``layer`` in the functional graph."""

    def __init__(self, layer, call_args=(), call_kwargs=None, outputs=None):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = call_kwargs or {}
        self.outputs = outputs
        self.is_input = not call_args and not self.call_kwargs
        # keyword arguments in call order, not sorted (tf.keras' traversal, hence layer order)
        self.keras_inputs = [t for t in flatten((call_args, list(self.call_kwargs.values())))
                             if isinstance(t, KerasTensor)]
        layer._inbound_nodes.append(self)
        node_index = len(layer._inbound_nodes) - 1
        for i, t in enumerate(flatten(outputs)):
            t._keras_history = (layer, node_index, i)

    @property
    def parent_nodes(self):
        return [t.node for t in self.keras_inputs]

    @property
    def flat_outputs(self):
        return flatten(self.outputs)

    def map_arguments(self, values: dict):
        """Call arguments with each KerasTensor replaced by ``values[id(tensor)]``."""
        def sub(x):
            return values[id(x)] if isinstance(x, KerasTensor) else x
        return map_structure(sub, self.call_args), map_structure(sub, self.call_kwargs)
