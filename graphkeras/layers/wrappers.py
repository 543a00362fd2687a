"""Layer wrappers: ``Wrapper`` (the base: a wrapped ``layer``, its config nested in the
wrapper's) and ``TimeDistributed``."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler import ops
from graphkeras.compiler.ops.shape import broadcast_like, reshape_like
from graphkeras.engine.base_layer import InputSpec, Layer
from graphkeras.engine.keras_tensor import flatten, map_structure
from graphkeras.layers.core import register


def _fmt_shape(shape):
    shape = tuple(shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


@register
class Wrapper(Layer):
    """Base of the layers that wrap another layer (``layer``); its config holds the
    wrapped layer's serialized config."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer {layer} supplied to wrapper is not a supported layer type. "
                             "Please ensure wrapped layer is a valid TF-Keras layer.")
        self.layer = layer
        super().__init__(**kwargs)

    def build(self, input_shape=None):
        if not self.layer.built:
            self._build_inner(input_shape)
        self.built = True

    def _build_inner(self, input_shape):
        """Build the wrapped layer; as in tf.keras its weights are then named after the
        wrapper (``time_distributed/kernel:0``), having been created inside it."""
        before = {id(w) for w in self.layer.weights}
        self.layer._build_with(input_shape)
        prefix = self.layer.name + "/"
        for w in self.layer.weights:
            if id(w) not in before and w.name.startswith(prefix):
                w.name = f"{self.name}/{w.name[len(prefix):]}"

    def get_config(self):
        from graphkeras.engine.functional import serialize_layer
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import deserialize_layer
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), custom_objects)
        return cls(layer, **config)


@register
class TimeDistributed(Wrapper):
    """Applies ``layer`` to every timestep (axis 1) of the input: the batch and time
    axes are merged, the layer runs once, and they are split again."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a "
                             f"`tf.keras.layers.Layer` instance. Received: {layer}")
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        shapes = input_shape if _is_shape_list(input_shape) else [input_shape]
        if any(len(s) < 3 for s in shapes):
            shown = [_fmt_shape(s) for s in shapes] if _is_shape_list(input_shape) \
                else _fmt_shape(input_shape)
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape ` with at "
                             f"least 3 dimensions, received: {shown}")
        specs = [InputSpec(shape=[None, None] + list(s)[2:]) for s in shapes]
        self.input_spec = specs if _is_shape_list(input_shape) else specs[0]
        child = [(s[0],) + tuple(s[2:]) for s in shapes]
        super().build(child if _is_shape_list(input_shape) else child[0])

    def _merge_time(self, x):
        rest = tuple(x.shape[2:])
        if any(d is None for d in rest):
            raise ValueError(f"`TimeDistributed` ({self.name}) needs the dimensions after the "
                             f"time axis to be known; received an input of shape "
                             f"{_fmt_shape(x.shape)}.")
        return ops.reshape(x, (-1,) + rest)

    def _split_time(self, y, like):
        """``y`` of shape ``(batch * time, ...)`` back to ``(batch, time, ...)``, the batch
        and time sizes taken from ``like`` (known statically or read at run time)."""
        rest = tuple(y.shape[1:])
        batch, steps = like.shape[0], like.shape[1]
        if steps is not None and all(d is not None for d in rest):
            return ops.reshape(y, (batch if batch is not None else -1, steps) + rest)
        # the time axis is dynamic: a (batch, time, *rest) template gives the target shape
        head = like[(slice(None), slice(None)) + (0,) * (len(like.shape) - 2)]
        head = ops.expand_dims(head, tuple(range(2, 2 + len(rest)))) if rest else head
        template = broadcast_like(np.zeros((1, 1) + rest, dtype=np.dtype(y.dtype)), head)
        return reshape_like(y, template)

    def call(self, inputs, training=None, mask=None):
        kwargs = {}
        if self.layer._call_has_training:
            kwargs["training"] = training
        first = flatten(inputs)[0]
        inner = map_structure(self._merge_time, inputs)
        if self.layer._call_has_mask and mask is not None:
            kwargs["mask"] = ops.reshape(mask, (-1,) + tuple(mask.shape[2:]))
        y = self.layer(inner, **kwargs)
        return map_structure(lambda t: self._split_time(t, first), y)

    def compute_mask(self, inputs, mask=None):
        inner_mask = None
        if mask is not None:
            inner_mask = ops.reshape(mask, (-1,) + tuple(mask.shape[2:]))
        inner = map_structure(self._merge_time, inputs)
        output_mask = self.layer.compute_mask(inner, inner_mask)
        if output_mask is None:
            if mask is None:
                return None
            output_mask = mask
            for _ in range(2, len(mask.shape)):  # any() over the trailing mask axes
                output_mask = ops.greater(ops.max(ops.cast(output_mask, "float32"), axis=-1),
                                          np.float32(0))
            return output_mask
        return self._split_time(output_mask, flatten(inputs)[0])


def _is_shape_list(shape):
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and \
        all(isinstance(s, (list, tuple)) for s in shape)
