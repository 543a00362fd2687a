"""``InputLayer`` and ``Input``: the entry points of a functional model."""
from __future__ import annotations

from graphkeras import backend, serialization
from graphkeras.compiler.ir import canonical_dtype
from graphkeras.engine.base_layer import Layer
from graphkeras.engine.keras_tensor import KerasTensor, Node


@serialization.register("layer")
class InputLayer(Layer):
    def __init__(self, input_shape=None, batch_size=None, dtype=None, input_tensor=None,
                 sparse=None, name=None, ragged=None, type_spec=None, batch_input_shape=None,
                 optional=False, **kwargs):
        if sparse or ragged:
            raise ValueError("graphkeras has no sparse or ragged tensors; pass dense arrays.")
        if name is None:
            name = backend.unique_name("input", zero_based=False)
        if batch_input_shape is not None:
            shape = tuple(batch_input_shape)
        elif input_shape is not None:
            shape = (batch_size,) + tuple(input_shape)
        else:
            raise ValueError("An InputLayer needs `input_shape` or `batch_input_shape`.")
        super().__init__(name=name, dtype=canonical_dtype(dtype), **kwargs)
        self._batch_input_shape = shape
        self.built = True
        if input_tensor is None:
            input_tensor = KerasTensor(shape, self.dtype, name=name)
        Node(self, outputs=input_tensor)

    def get_config(self):
        return {"batch_input_shape": list(self._batch_input_shape), "dtype": self.dtype,
                "sparse": False, "ragged": False, "name": self.name}


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=None, tensor=None,
          ragged=None, type_spec=None, batch_shape=None, **kwargs):
    """A symbolic input of a functional model (tf.keras ``Input``)."""
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    if shape is None and batch_shape is None and tensor is None:
        raise ValueError("Please provide to Input a `shape` or a `tensor` or a `type_spec` "
                         "argument. Note that `shape` does not include the batch dimension.")
    if isinstance(shape, int):
        shape = (shape,)
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       input_tensor=tensor, batch_input_shape=batch_shape, sparse=sparse,
                       ragged=ragged)
    return layer._inbound_nodes[0].outputs
