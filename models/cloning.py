"""``clone_model``: the same architecture with new, freshly initialized layers.

As tf.keras: every layer of a functional or Sequential model is re-created
from its config (``clone_function``, by default
``layer.__class__.from_config(layer.get_config())``), input layers are
re-created (or replaced by ``input_tensors``), and the new layers are called
along the original graph. Weights are not copied; use
``clone.set_weights(model.get_weights())`` for that.
"""
from __future__ import annotations

from graphkeras.engine.base_layer import Layer
from graphkeras.engine.functional import Functional
from graphkeras.engine.input_layer import InputLayer
from graphkeras.engine.keras_tensor import KerasTensor, flatten, pack_like
from graphkeras.engine.sequential import Sequential
from graphkeras.engine.training import Model

_LAMBDA_ONLY_KEYS = ("function", "function_type", "module", "output_shape_type",
                     "output_shape_module")


def _clone_layer(layer):
    """A new, unbuilt layer with ``layer``'s config."""
    from graphkeras.layers.core import Lambda
    if isinstance(layer, Lambda):
        # Lambda configs name their function; the clone keeps the function object itself
        config = {k: v for k, v in layer.get_config().items() if k not in _LAMBDA_ONLY_KEYS}
        return type(layer)(layer.function, **config)
    return layer.__class__.from_config(layer.get_config())


def _clone_input_layer(layer):
    return InputLayer.from_config(layer.get_config())


def _check_clone_function(clone_function):
    if clone_function is None:
        return _clone_layer
    if not callable(clone_function):
        raise ValueError("Expected `layer_fn` argument to be a callable. "
                         f"Received: layer_fn={clone_function}")
    return clone_function


def _input_tensor(x):
    """A model input from ``x``: a tensor of ``gk.Input`` or an ``InputLayer``."""
    if isinstance(x, InputLayer):
        return x._inbound_nodes[0].outputs
    if isinstance(x, KerasTensor) and x._keras_history is not None and x.node.is_input:
        return x
    raise ValueError("`input_tensors` must be tensors made by `gk.Input` (or InputLayer "
                     f"instances). Received: {x!r}")


def _clone_sequential_model(model, input_tensors=None, layer_fn=_clone_layer):
    layers = [layer_fn(layer) for layer in model.layers]
    if input_tensors is not None:
        tensors = flatten(input_tensors) if isinstance(input_tensors, (list, tuple)) \
            else [input_tensors]
        if len(tensors) != 1:
            raise ValueError("To clone a `Sequential` model, we expect at most one tensor as part "
                             f"of `input_tensors`. Received: input_tensors={input_tensors}")
        head = [_input_tensor(tensors[0])]
    elif model._input is not None:
        head = [_clone_input_layer(model._input._keras_history[0])]
    else:
        head = []
    return Sequential(head + layers, name=model.name)


def _clone_functional_model(model, input_tensors=None, layer_fn=_clone_layer):
    given = []
    if input_tensors is not None:
        given = flatten(input_tensors) if isinstance(input_tensors, (list, tuple, dict)) \
            else [input_tensors]
        given = [_input_tensor(x) for x in given]
    values = {}  # id(original KerasTensor) -> KerasTensor of the clone
    for i, original in enumerate(model.inputs):
        if i < len(given):
            values[id(original)] = given[i]
        else:
            values[id(original)] = _clone_input_layer(original._keras_history[0]) \
                ._inbound_nodes[0].outputs
    clones = {}  # id(original layer) -> its clone, so shared layers stay shared
    for node in model._nodes:
        if node.is_input:
            continue
        layer = node.layer
        if id(layer) not in clones:
            clones[id(layer)] = layer_fn(layer)
        args, kwargs = node.map_arguments(values)
        outputs = clones[id(layer)](*args, **kwargs)
        for original, new in zip(node.flat_outputs, flatten(outputs)):
            values[id(original)] = new
    inputs = pack_like(model._nested_inputs, [values[id(t)] for t in model.inputs])
    outputs = pack_like(model._nested_outputs, [values[id(t)] for t in model.outputs])
    cls = type(model)
    if cls is not Functional:
        try:  # a Model subclass built from inputs and outputs keeps its class
            return cls(inputs=inputs, outputs=outputs, name=model.name)
        except TypeError:
            pass
    return Functional(inputs=inputs, outputs=outputs, name=model.name)


def _is_graph_network(model):
    return getattr(model, "_nodes", None) is not None and getattr(model, "inputs", None) is not None


def clone_model(model, input_tensors=None, clone_function=None):
    """Clone a functional or ``Sequential`` model: new layers, new weights.

    Args:
      model: a functional or ``Sequential`` ``Model``.
      input_tensors: optional tensors from ``gk.Input`` (or ``InputLayer``s) for the
        clone's inputs, in the order of ``model.inputs``; inputs not given are
        re-created from the original input layers.
      clone_function: callable taking a layer (never an ``InputLayer``) and
        returning the layer to use in the clone; by default
        ``layer.__class__.from_config(layer.get_config())``.

    Returns:
      A new model of the same architecture, not compiled, with freshly
      initialized weights.
    """
    layer_fn = _check_clone_function(clone_function)
    if isinstance(model, Sequential):
        return _clone_sequential_model(model, input_tensors=input_tensors, layer_fn=layer_fn)
    if isinstance(model, Model) and _is_graph_network(model):
        return _clone_functional_model(model, input_tensors=input_tensors, layer_fn=layer_fn)
    if isinstance(model, Model):
        if type(model).get_config is not Model.get_config and input_tensors is None:
            # the subclass says how to rebuild itself: clone it whole, as tf.keras does
            return layer_fn(model)
        raise ValueError("Expected `model` argument to be a functional `Model` instance, but got "
                         f"a subclassed model instead: {model}")
    if isinstance(model, Layer):
        return layer_fn(model)
    raise ValueError(f"Expected `model` argument to be a `Model` instance. Received: model={model}")
