"""``Sequential``: a linear stack of layers, a functional model underneath."""
from __future__ import annotations

from graphkeras import backend, serialization
from graphkeras.compiler.primitive import Tensor
from graphkeras.engine.base_layer import Layer
from graphkeras.engine.functional import Functional, deserialize_layer, serialize_layer
from graphkeras.engine.input_layer import Input, InputLayer
from graphkeras.engine.keras_tensor import KerasTensor
from graphkeras.engine.training import Model


@serialization.register("layer")
class Sequential(Functional):
    def __init__(self, layers=None, name=None):
        Model.__init__(self, name=name or backend.unique_name("sequential"))
        self._stack: list[Layer] = []
        self._input = None  # KerasTensor of the input layer, once the input shape is known
        self._stack_outputs: list[KerasTensor] = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer):
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._stack or self._input is not None:
                raise ValueError("An InputLayer can only be the first layer of a Sequential model.")
            self._input = layer._inbound_nodes[0].outputs
            self._connect()
            return
        if not isinstance(layer, Layer):
            raise TypeError("The added layer must be an instance of class Layer. "
                            f"Received: layer={layer} of type {type(layer)}.")
        if any(layer.name == existing.name for existing in self._stack):
            raise ValueError(f'All layers added to a Sequential model should have unique names. '
                             f'Name "{layer.name}" is already the name of a layer in this model. '
                             "Update the `name` argument to pass a unique name.")
        self._stack.append(layer)
        object.__setattr__(self, "_layers", [layer for layer in self._stack])
        if self._input is None and getattr(layer, "_batch_input_shape", None) is not None:
            shape = layer._batch_input_shape
            self._input = Input(batch_shape=shape, dtype=layer.dtype if layer.dtype != "float32"
                                and not _is_float(layer.dtype) else None,
                                name=backend.unique_name(f"{layer.name}_input", zero_based=True))
        self._connect()

    def pop(self):
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        self._stack.pop()
        self._stack_outputs = []
        object.__setattr__(self, "_layers", list(self._stack))
        self._connect(rebuild=True)

    def _connect(self, rebuild=False):
        """(Re)wire the functional graph when the input shape is known."""
        if self._input is None:
            self.built = False
            return
        x = self._input
        start = 0
        if not rebuild and self._stack_outputs and len(self._stack_outputs) == len(self._stack) - 1:
            x, start = self._stack_outputs[-1], len(self._stack_outputs)
        else:
            self._stack_outputs = []
        for layer in self._stack[start:]:
            x = layer(x)
            if isinstance(x, (list, tuple)):
                raise ValueError("All layers in a Sequential model should have a single output "
                                 f"tensor. Layer {layer.name} has multiple outputs.")
            self._stack_outputs.append(x)
        self._init_graph_network(self._input, x)
        object.__setattr__(self, "_layers", self._graph_layers())
        self._predict_graph = None
        self.predict_function = None

    def _graph_layers(self):
        return [self._input._keras_history[0]] + list(self._stack)

    def call(self, inputs, training=None, mask=None):
        if self._input is None:
            shape = tuple(inputs.shape)
            dtype = inputs.dtype if isinstance(inputs, (Tensor,)) else "float32"
            self._input = Input(batch_shape=(None,) + shape[1:], dtype=dtype)
            self._connect()
        return Functional.call(self, inputs, training=training, mask=mask)

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input is None:
                raise ValueError("You must provide an `input_shape` argument.")
            return
        if self._input is None:
            self._input = Input(batch_shape=(None,) + tuple(input_shape)[1:])
            self._connect()

    def get_config(self):
        layers = []
        if self._input is not None:
            layers.append(serialize_layer(self._input._keras_history[0]))
        layers += [serialize_layer(layer) for layer in self._stack]
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config, list):  # oldest layout: just the layers
            config = {"layers": config}
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry, custom_objects))
        if model._input is None and config.get("build_input_shape"):
            model.build(config["build_input_shape"])
        return model


def _is_float(dtype):
    return str(dtype).startswith("float")
