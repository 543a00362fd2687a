"""``Masking``: marks timesteps whose features all equal ``mask_value`` as padding."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import Layer, attach_mask
from graphkeras.layers.core import register


def _any_not_equal(inputs, value, keepdims):
    """``reduce_any(inputs != value, axis=-1)``."""
    differs = ops.cast(ops.not_equal(inputs, np.asarray(value, dtype=inputs.dtype)), "float32")
    return ops.greater(ops.max(differs, axis=-1, keepdims=keepdims), np.float32(0))


@register
class Masking(Layer):
    """Zeroes the timesteps (all of whose features equal ``mask_value``) and gives the
    output a ``(batch, timesteps)`` mask that is False there, for the layers downstream
    (RNNs, attention, losses) to skip them."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.mask_value = mask_value
        self._compute_output_and_mask_jointly = True

    def compute_mask(self, inputs, mask=None):
        return _any_not_equal(inputs, self.mask_value, keepdims=False)

    def call(self, inputs):
        keep = _any_not_equal(inputs, self.mask_value, keepdims=True)
        outputs = ops.multiply(inputs, ops.cast(keep, inputs.dtype))
        return attach_mask(outputs, ops.squeeze(keep, axis=-1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
