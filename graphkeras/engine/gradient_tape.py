"""``gk.GradientTape`` for ``train_step`` overrides.

Train steps are traced, so the tape records nothing itself: the trace already
holds the forward graph. ``tape.gradient(loss, variables)`` differentiates the
traced loss with respect to the variables' current values, adding the
backward pass to the same graph (see ``graphkeras.compiler.autodiff``).
"""
from __future__ import annotations

from graphkeras.compiler.autodiff import grad
from graphkeras.compiler.primitive import Tensor
from graphkeras.engine.keras_tensor import flatten, pack_like


class GradientTape:
    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self._used = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def watch(self, tensor):
        """Every traced value can be differentiated; nothing to record."""

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set "
                               "of gradients (or jacobians).")
        self._used = True
        if not isinstance(target, Tensor):
            raise ValueError(
                "GradientTape.gradient needs a traced loss. graphkeras differentiates compiled "
                "steps: call it inside `train_step` (which fit/train_on_batch trace), not on "
                f"concrete values. Received target of type {type(target).__name__}.")
        flat = flatten(sources)
        tensors = [s._trace_value(target.trace) if hasattr(s, "_trace_value") else s for s in flat]
        grads = grad(target, tensors, y_bar=output_gradients)
        if unconnected_gradients == "zero":
            from graphkeras.compiler import ops
            grads = [ops.multiply(t, 0.0) if g is None else g for g, t in zip(grads, tensors)]
        if isinstance(sources, (list, tuple, dict)):
            return pack_like(sources, grads)
        return grads[0]
