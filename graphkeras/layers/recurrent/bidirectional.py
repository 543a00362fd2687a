"""``Bidirectional``: a recurrent layer run forwards and backwards, outputs merged
(tf.keras 2.x arguments, config, weight names ``bidirectional/forward_lstm/lstm_cell/kernel``)."""
from __future__ import annotations

import copy

import numpy as np

from graphkeras.compiler import ops
from graphkeras.compiler.ops.linalg import arange_like
from graphkeras.engine.base_layer import Layer
from graphkeras.engine.keras_tensor import KerasTensor, flatten
from graphkeras.layers.core import register
from graphkeras.layers.recurrent.base import RNN, rename_weights

_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def reverse_axis(x, axis):
    """``x`` reversed along ``axis`` of run-time length (a gather by ``-1, -2, ...``)."""
    return ops.take(x, ops.subtract(np.int64(-1), arange_like(x, axis)), axis=axis)


@register
class Bidirectional(Layer):
    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a "
                             f"`tf.keras.layers.Layer` instance. Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `tf.keras.layers.Layer` instance. "
                             f"Received: {backward_layer}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should be "
                             'one of {"sum", "mul", "ave", "concat", None}')
        if weights:
            kwargs["weights"] = weights
        super().__init__(**kwargs)
        self._layer = layer  # the configuration only: its weights are never created
        self.forward_layer = _recreate(layer)
        if backward_layer is None:
            self.backward_layer = _recreate(layer, go_backwards=True)
        else:
            self.backward_layer = backward_layer
            from graphkeras.engine.functional import serialize_layer
            self._backward_layer_config = serialize_layer(backward_layer)
        self.forward_layer.name = "forward_" + self.forward_layer.name
        self.backward_layer.name = "backward_" + self.backward_layer.name
        self._verify_layer_config()
        for sub in (self.forward_layer, self.backward_layer):
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        if isinstance(self.backward_layer, RNN):
            self.backward_layer._sequence_order = True  # no reversal there and back here
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._trainable = kwargs.get("trainable", layer.trainable)
        self._num_constants = 0
        self.input_spec = copy.copy(layer.input_spec)

    @property
    def layer(self):
        return self._layer

    def _verify_layer_config(self):
        f, b = self.forward_layer, self.backward_layer
        if f.go_backwards == b.go_backwards:
            raise ValueError("Forward layer and backward layer should have different "
                             f"`go_backwards` value.forward_layer.go_backwards = {f.go_backwards},"
                             f"backward_layer.go_backwards = {b.go_backwards}")
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(f, a) != getattr(b, a):
                raise ValueError("Forward layer and backward layer are expected to have the same "
                                 f'value for attribute "{a}", got "{getattr(f, a)}" for forward '
                                 f'layer and "{getattr(b, a)}" for backward layer')

    # ----------------------------------------------------------- build
    def build(self, input_shape):
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub._build_with(input_shape)
            rename_weights(sub, self.name)
        self.built = True

    # ------------------------------------------------------------ call
    def __call__(self, *args, **kwargs):
        if args:
            inputs, args = args[0], args[1:]
        else:
            inputs = kwargs.pop("inputs")
        initial_state = kwargs.pop("initial_state", None)
        if kwargs.pop("constants", None) is not None:
            raise ValueError("Bidirectional: `constants` are not supported.")
        if isinstance(inputs, list):
            if len(inputs) > 1:
                initial_state = inputs[1:]
            inputs = inputs[0]
        if initial_state is None:
            return super().__call__(inputs, *args, **kwargs)
        initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(initial_state) % 2:
            raise ValueError("When passing `initial_state` to a Bidirectional RNN, the state "
                             "should be a list containing the states of the underlying RNNs. "
                             f"Received: {initial_state}")
        flat = flatten(initial_state)
        symbolic = [isinstance(t, KerasTensor) for t in flat]
        if any(symbolic) and not all(symbolic):
            raise ValueError("The initial state of a Bidirectional layer cannot be specified with "
                             "a mix of Keras tensors and non-Keras tensors (a \"Keras tensor\" is a "
                             "tensor that was returned by a Keras layer, or by `Input`)")
        if all(symbolic):
            saved = self.input_spec
            self.input_spec = [None] * (1 + len(initial_state))
            try:  # tf.keras records these two as None in the node's arguments
                return super().__call__([inputs] + initial_state, *args, initial_state=None,
                                        constants=None, **kwargs)
            finally:
                self.input_spec = saved
        return super().__call__(inputs, *args, initial_state=initial_state, **kwargs)

    def call(self, inputs, training=None, mask=None, initial_state=None, constants=None):
        if isinstance(inputs, list):
            if len(inputs) > 1:
                initial_state = inputs[1:]
            inputs = inputs[0]
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        kwargs = {"training": training, "mask": mask}
        y = self.forward_layer(inputs, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, **kwargs)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences and not getattr(self.backward_layer, "_sequence_order", False):
            time_axis = 0 if getattr(self.forward_layer, "time_major", False) else 1
            y_rev = reverse_axis(y_rev, time_axis)
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = ops.add(y, y_rev)
        elif self.merge_mode == "ave":
            output = ops.divide(ops.add(y, y_rev), np.asarray(2, y.dtype))
        elif self.merge_mode == "mul":
            output = ops.multiply(y, y_rev)
        else:
            output = [y, y_rev]
        if self.return_state:
            return (output if self.merge_mode is None else [output]) + states
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        if self.return_sequences:
            output_mask = [mask, mask] if not self.merge_mode else mask
        else:
            output_mask = [None, None] if not self.merge_mode else None
        if self.return_state:
            n = len(flatten(self.forward_layer.states))
            state_mask = [None] * n
            if isinstance(output_mask, list):
                return output_mask + state_mask * 2
            return [output_mask] + state_mask * 2
        return output_mask

    def reset_states(self, states=None):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        if not isinstance(states, (list, tuple)):
            raise ValueError("Unrecognized value for `states`. Expected `states` to be list or "
                             f"tuple. Received: {states}")
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    # ---------------------------------------------------------- config
    def get_config(self):
        from graphkeras.engine.functional import serialize_layer
        config = {**super().get_config(), "layer": serialize_layer(self._layer),
                  "merge_mode": self.merge_mode}
        if self._num_constants:
            config["num_constants"] = self._num_constants
        if hasattr(self, "_backward_layer_config"):
            config["backward_layer"] = self._backward_layer_config
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import deserialize_layer
        config = copy.deepcopy(config)
        config.pop("num_constants", None)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize_layer(backward, custom_objects)
        return cls(**config)


def _recreate(layer, go_backwards=False):
    """A fresh copy of ``layer`` from its config (the other direction if asked)."""
    config = layer.get_config()
    if go_backwards:
        config["go_backwards"] = not config["go_backwards"]
    custom = {}
    cell = getattr(layer, "cell", None)
    if cell is not None:
        custom[type(cell).__name__] = type(cell)
        for c in getattr(cell, "cells", []):
            custom[type(c).__name__] = type(c)
    try:
        return type(layer).from_config(config, custom_objects=custom)
    except TypeError as err:
        if "custom_objects" not in str(err):
            raise
        return type(layer).from_config(config)
