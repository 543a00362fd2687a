"""Subclassed models, saved without their Python class.

A subclassed model's ``call`` is arbitrary Python, so its JSON holds the traced
IR of its inference graph instead of a layer config. :class:`TracedModel`
replays that IR: each node is bound again, so it runs eagerly on numpy and
traces into new graphs like any model.
"""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import graph_from_dict, graph_to_dict
from graphkeras.compiler.primitive import PRIMITIVES
from graphkeras.engine.keras_tensor import pack_like
from graphkeras.engine.training import Model
from graphkeras.variables import Variable

KERAS_VERSION = "2.15.0"


def traced_model_config(model) -> dict:
    """``to_json`` content of a subclassed model: its traced inference graph."""
    if model._input_specs() is None:
        raise ValueError(f"Model {model.name!r} has not been built: call it on data or call "
                         "`build(input_shape)` before `to_json()`.")
    compiled = model._trace_predict()
    params = dict(zip((id(v) for v in compiled.params), compiled.param_names))
    weights = [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype, "trainable": w.trainable,
                "param": params.get(id(w))} for w in model.weights]
    specs = model._input_specs()
    return {"class_name": "TracedModel",
            "config": {"name": model.name, "original_class": type(model).__name__,
                       "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in specs],
                       "output_names": list(model.output_names or []),
                       "graph": graph_to_dict(compiled.graph), "weights": weights},
            "keras_version": KERAS_VERSION, "backend": "tensorflow"}


class TracedModel(Model):
    """A model whose computation is a stored IR graph (from a subclassed model)."""

    def __init__(self, graph, input_specs, weights, output_names=None, name=None,
                 original_class=None):
        super().__init__(name=name)
        self._graph = graph
        self._original_class = original_class
        self._weight_specs = weights
        self._vars = []
        by_param = {}
        for spec in weights:
            var = Variable(np.zeros(spec["shape"], spec["dtype"]), name=spec["name"],
                           trainable=spec["trainable"], dtype=spec["dtype"])
            (self._trainable_weights if spec["trainable"] else self._non_trainable_weights).append(var)
            self._vars.append(var)
            if spec.get("param"):
                by_param[spec["param"]] = var
        n_data = len(input_specs)
        self._param_vars = [by_param[v.name] for v in graph.inputs[n_data:]]
        self._saved_spec = [(s["name"], tuple(s["shape"]), s["dtype"]) for s in input_specs]
        self._saved_structure = [None] * n_data if n_data > 1 else None
        self.output_names = list(output_names or []) or None
        self.built = True

    @property
    def weights(self):
        return list(self._vars)

    def call(self, inputs, training=None, mask=None):
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        env = {id(v): x for v, x in zip(self._graph.inputs, flat + self._param_vars)}
        for node in self._graph.nodes:
            prim = PRIMITIVES[node.op]
            out = prim.bind(*[env[id(v)] for v in node.inputs], **node.attrs)
            outs = out if prim.multiple_results else [out]
            for v, x in zip(node.outputs, outs):
                env[id(v)] = x
        outs = [env[id(v)] for v in self._graph.outputs]
        return outs[0] if len(outs) == 1 else pack_like([None] * len(outs), outs)

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        missing = sorted({n["op"] for n in config["graph"]["nodes"]} - set(PRIMITIVES))
        if missing:
            raise ValueError(f"The saved graph uses ops this graphkeras does not know: {missing}.")
        return cls(graph_from_dict(config["graph"]), config["inputs"], config["weights"],
                   output_names=config.get("output_names"), name=config.get("name"),
                   original_class=config.get("original_class"))
