"""Recurrent cells with tf.keras 2.x arguments, weights and numerics: ``SimpleRNNCell``,
``LSTMCell``, ``GRUCell``.

A cell computes one time step (``call(inputs, states, training)``, as in tf.keras),
and splits that step in three for the recurrent layers' loop:

* ``_project(x, input_masks)``: the input half, ``x @ kernel + bias`` with input dropout,
  for any leading axes: the layers run it once over the whole ``(time, batch, features)``
  sequence (one large matrix product outside the loop); a list of sequences;
* ``_constants(recurrent_masks)``: what the step needs from the weights alone (the
  recurrent kernel, its per-gate slices, the recurrent bias), computed once outside the
  loop: an op in the loop body runs at every step;
* ``_recur(xs, states, recurrent_masks, constants)``: the recurrent half
  (``h @ recurrent_kernel`` and the gates), the body of the loop.

``call`` chains the three. Dropout masks are drawn once per sequence (a recurrent layer
draws them before its loop and the cell reuses them at every step, as tf.keras caches
them), from the counter-based generator behind ``Dropout``, so the eager and compiled
paths draw the same bits. Recurrent masks are boolean (applied with ``where``) so the
loop's gradient does not accumulate a useless gradient for them.

Gate math follows tf.keras (``implementation`` 2 products, 1 per-gate products when
recurrent dropout needs a mask per gate), with two rewrites that keep the loop body
short, equal up to float rounding: LSTM with tanh/sigmoid takes one sigmoid over all
four gates (``tanh(x) = 2 sigmoid(2x) - 1``, the candidate's columns doubled in the
weights), and GRU mixes ``hh + z * (h - hh)`` for ``z * h + (1 - z) * hh``.
"""
from __future__ import annotations

import numpy as np

from graphkeras import activations, backend, initializers, regularizers
from graphkeras.compiler import ops
from graphkeras.compiler.ops.shape import broadcast_like
from graphkeras.engine.base_layer import Layer
from graphkeras.layers.core import SeedGenerator, constraint_config, register


def _slice_last(w, start, stop):
    """``w[..., start:stop]``: columns of a kernel, a bias, or a projected sequence."""
    return ops.getitem(w, (Ellipsis, slice(start, stop)))


def _keep_mask(like, rate, rng):
    """Boolean keep-mask shaped like ``like``: each entry kept with probability 1 - rate."""
    return ops.greater_equal(ops.hash_uniform(like, rng.next_key()), np.float32(rate))


def apply_dropout(x, keep, rate):
    """``x`` scaled by 1 / (1 - rate) where ``keep``, else 0 (tf.keras' ``x * mask``)."""
    if keep is None:
        return x
    scale = np.asarray(1.0 / (1.0 - rate), dtype=x.dtype)
    return ops.where(keep, ops.multiply(x, scale), np.zeros((), x.dtype))


def zeros_for_batch(batch_col, size, dtype="float32"):
    """Zeros of shape ``(batch, size)``; ``batch_col`` is any ``(batch, 1)`` tensor."""
    return broadcast_like(np.zeros((1, size), dtype), batch_col)


class _unobserved_name:
    """A sublayer created with a fixed name (``lstm_cell`` inside ``LSTM``) does not take
    that name from later automatically named layers, as in tf.keras."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.count = backend._name_counts.get(self.name)

    def __exit__(self, *exc):
        if self.count is None:
            backend._name_counts.pop(self.name, None)
        else:
            backend._name_counts[self.name] = self.count


class DropoutRNNCellMixin:
    """Input and recurrent dropout masks, drawn once per sequence.

    ``_masks`` holds ``(input_masks, recurrent_masks)`` while a recurrent layer runs its
    loop (each a list of boolean keep-masks, or None); a cell called on its own draws
    fresh masks for that call."""

    _gates = 1

    def _init_dropout(self, dropout, recurrent_dropout):
        self.dropout = min(1.0, max(0.0, dropout))
        self.recurrent_dropout = min(1.0, max(0.0, recurrent_dropout))
        self._masks = None
        self._rng = None
        if self.dropout > 0 or self.recurrent_dropout > 0:
            self._rng = SeedGenerator(None, f"{self.name}/seed_generator")

    def _mask_count(self):
        return self._gates if getattr(self, "implementation", 1) == 1 else 1

    def _draw_masks(self, batch_col, input_dim, training, input_dropout=True):
        """Masks for one sequence; ``batch_col`` is any ``(batch, 1)`` tensor."""
        dp = rec = None
        if training and input_dropout and 0 < self.dropout < 1:
            like = zeros_for_batch(batch_col, input_dim)
            dp = [_keep_mask(like, self.dropout, self._rng) for _ in range(self._mask_count())]
        if training and 0 < self.recurrent_dropout < 1:
            like = zeros_for_batch(batch_col, self.units)
            rec = [_keep_mask(like, self.recurrent_dropout, self._rng)
                   for _ in range(self._mask_count())]
        return dp, rec

    def _state_variables(self):
        return [self._rng.state] if self._rng is not None else []


class _Cell(DropoutRNNCellMixin, Layer):
    """What the three cells share: arguments, weights, config and the split step."""

    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, **kwargs):
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError("Received an invalid value for argument `units`, expected a "
                             f"positive integer, got {units}.")
        internal = kwargs.pop("_internal_name", None)
        kwargs.pop("enable_caching_device", None)
        if internal is not None:
            with _unobserved_name(internal):
                super().__init__(name=internal, **kwargs)
        else:
            super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self._init_dropout(dropout, recurrent_dropout)
        self.state_size = self.units
        self.output_size = self.units

    # weights ----------------------------------------------------------
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        width = self._gates * self.units
        self.kernel = self.add_weight("kernel", shape=(input_dim, width),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", shape=(self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", shape=self._bias_shape(),
                                        initializer=self._bias_initializer(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    # the step ---------------------------------------------------------
    def _input_bias(self):
        return self.bias

    def _input_projection(self, x, dp=None, scale=None):
        """``x @ kernel + bias`` over any leading axes, input dropout applied; ``scale``
        multiplies the kernel's and bias' columns (cheaper than scaling the result)."""
        if x.dtype != self.dtype:
            x = ops.cast(x, self.dtype)
        kernel = self.kernel if scale is None else ops.multiply(self.kernel, scale)
        if dp is not None and len(dp) > 1:  # implementation 1: one mask per gate
            u = self.units
            y = ops.concatenate([ops.matmul(apply_dropout(x, keep, self.dropout),
                                            _slice_last(kernel, k * u, (k + 1) * u))
                                 for k, keep in enumerate(dp)], axis=-1)
        else:
            y = ops.matmul(apply_dropout(x, dp[0], self.dropout) if dp else x, kernel)
        if self.use_bias:
            bias = self._input_bias()
            y = ops.add(y, bias if scale is None else ops.multiply(bias, scale))
        return y

    def _project(self, x, dp=None):
        """The input half of the step: a list of sequences for ``_recur``."""
        return [self._input_projection(x, dp)]

    def _constants(self, rec=None):
        """Tensors computed from the weights alone, once, outside the loop: the loop body
        reads them (ops in the body would run at every step)."""
        return {"U": self.recurrent_kernel}

    def _gate_kernels(self, kernel, n):
        u = self.units
        return [_slice_last(kernel, k * u, (k + 1) * u) for k in range(n)]

    def _recurrent(self, h, rec, k, key="U"):
        """``h @ U``; with recurrent dropout one product per gate, each with its own mask."""
        if rec is None:
            return ops.matmul(h, k[key])
        return ops.concatenate([ops.matmul(apply_dropout(h, keep, self.recurrent_dropout), w)
                                for keep, w in zip(rec, k[key + "_gates"])], axis=-1)

    def call(self, inputs, states, training=None):
        single = not isinstance(states, (list, tuple))
        states = [states] if single else list(states)
        masks = self._masks
        if masks is None:
            masks = self._draw_masks(ops.getitem(states[0], (slice(None), slice(0, 1))),
                                     inputs.shape[-1], training)
        out, new = self._recur(self._project(inputs, masks[0]), states, masks[1],
                               self._constants(masks[1]))
        if single and len(new) == 1:
            return out, new[0]
        return out, new

    def _recur(self, xs, states, rec, k):
        raise NotImplementedError  # each cell defines its recurrence

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        dtype = dtype or self.dtype
        states = [np.zeros((int(batch_size), s), dtype) for s in sizes]
        return states if isinstance(self.state_size, (list, tuple)) else states[0]

    # config -----------------------------------------------------------
    def _config_head(self):
        return {"units": self.units, "activation": activations.serialize(self.activation)}

    def _config_tail(self):
        return {}

    def get_config(self):
        config = {**super().get_config(), **self._config_head(), "use_bias": self.use_bias,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if "unit_forget_bias" in self._config_tail():
            config["unit_forget_bias"] = self._config_tail()["unit_forget_bias"]
        config.update({
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraint_config(self.kernel_constraint),
            "recurrent_constraint": constraint_config(self.recurrent_constraint),
            "bias_constraint": constraint_config(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout})
        config.update({k: v for k, v in self._config_tail().items() if k != "unit_forget_bias"})
        return config


@register
class SimpleRNNCell(_Cell):
    """``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``."""

    def _constants(self, rec=None):
        if rec is None:
            return {"U": self.recurrent_kernel}
        return {"U_gates": [self.recurrent_kernel]}

    def _recur(self, xs, states, rec, k):
        h = ops.add(xs[0], self._recurrent(states[0], rec, k))
        if self.activation is not None:
            h = self.activation(h)
        return h, [h]


def _gated_implementation(cell, implementation):
    """tf.keras: recurrent dropout needs one mask per gate, so implementation 1."""
    if cell.recurrent_dropout != 0 and implementation != 1:
        return 1
    return implementation


@register
class LSTMCell(_Cell):
    """Gates ``i, f, c, o`` (in that order in the kernels); ``unit_forget_bias`` starts
    the forget gate's bias at one."""

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                         dropout=dropout, recurrent_dropout=recurrent_dropout, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.implementation = _gated_implementation(self, implementation)
        self.state_size = [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def bias_initializer(shape, dtype=None):
            return np.concatenate([np.asarray(base((u,), dtype=dtype)), np.ones((u,), dtype or "float32"),
                                   np.asarray(base((2 * u,), dtype=dtype))]).astype(dtype or "float32")
        return bias_initializer

    def _standard_gates(self):
        """tanh and sigmoid: the step takes one sigmoid over all four gates, the candidate's
        pre-activation doubled in the weights (tanh(x) = 2 sigmoid(2x) - 1), which makes the
        loop body (and its gradient) several ops shorter."""
        return self.activation is activations.tanh and \
            self.recurrent_activation is activations.sigmoid

    def _gate_scale(self):
        u = self.units
        return np.concatenate([np.ones(2 * u), np.full(u, 2.0), np.ones(u)]).astype(self.dtype)

    def _project(self, x, dp=None):
        return [self._input_projection(x, dp, self._gate_scale() if self._standard_gates()
                                       else None)]

    def _constants(self, rec=None):
        kernel = self.recurrent_kernel
        if self._standard_gates():
            kernel = ops.multiply(kernel, self._gate_scale())
        if rec is None:
            return {"U": kernel}
        return {"U_gates": self._gate_kernels(kernel, 4)}

    def _recur(self, xs, states, rec, k):
        h, c = states[0], states[1]
        z = ops.add(xs[0], self._recurrent(h, rec, k))
        if self._standard_gates():
            i, f, g, o = ops.split(ops.sigmoid(z), 4, axis=-1)
            g = ops.subtract(ops.add(g, g), np.ones((), g.dtype))
            c = ops.add(ops.multiply(f, c), ops.multiply(i, g))
            h = ops.multiply(o, ops.tanh(c))
            return h, [h, c]
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        c = ops.add(ops.multiply(f, c), ops.multiply(i, self.activation(zc)))
        o = self.recurrent_activation(zo)
        h = ops.multiply(o, self.activation(c))
        return h, [h, c]

    def _config_head(self):
        return {**super()._config_head(),
                "recurrent_activation": activations.serialize(self.recurrent_activation)}

    def _config_tail(self):
        return {"unit_forget_bias": self.unit_forget_bias, "implementation": self.implementation}


@register
class GRUCell(_Cell):
    """Gates ``z, r, h`` (update, reset, candidate). ``reset_after=True`` (tf.keras 2's
    default, the cuDNN form) applies the reset gate after the recurrent product and keeps
    separate input and recurrent biases, bias shape ``(2, 3 * units)``."""

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                         dropout=dropout, recurrent_dropout=recurrent_dropout, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.implementation = _gated_implementation(self, implementation)
        self.reset_after = reset_after

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        return ops.getitem(self.bias, 0) if self.reset_after else self.bias

    def _project(self, x, dp=None):
        """Two sequences: the update and reset gates' inputs, and the candidate's."""
        y = self._input_projection(x, dp)
        u = self.units
        return [_slice_last(y, 0, 2 * u), _slice_last(y, 2 * u, 3 * u)]

    def _constants(self, rec=None):
        u, kernel = self.units, self.recurrent_kernel
        rbias = ops.getitem(self.bias, 1) if self.use_bias and self.reset_after else None
        if self.reset_after:
            k = {"U": kernel, "rb": rbias}
            if rec is not None:
                k["U_gates"] = self._gate_kernels(kernel, 3)
        else:
            k = {"U": _slice_last(kernel, 0, 2 * u), "Uh": _slice_last(kernel, 2 * u, 3 * u),
                 "rb": None}
            if rec is not None:
                k["U_gates"] = self._gate_kernels(kernel, 2)
        return k

    def _recur(self, xs, states, rec, k):
        h = states[0]
        u = self.units
        x_zr, x_h = xs
        if self.reset_after:
            inner = self._recurrent(h, rec, k)
            if k["rb"] is not None:
                inner = ops.add(inner, k["rb"])
            r_zr, r_h = _slice_last(inner, 0, 2 * u), _slice_last(inner, 2 * u, 3 * u)
        else:
            r_zr = self._recurrent(h, None if rec is None else rec[:2], k)
        zr = self.recurrent_activation(ops.add(x_zr, r_zr))
        z, r = ops.split(zr, 2, axis=-1)
        if self.reset_after:
            r_h = ops.multiply(r, r_h)
        else:
            h_in = h if rec is None else apply_dropout(h, rec[2], self.recurrent_dropout)
            r_h = ops.matmul(ops.multiply(r, h_in), k["Uh"])
        hh = self.activation(ops.add(x_h, r_h))
        # z * h + (1 - z) * hh, as hh + z * (h - hh): one op fewer in the loop
        h = ops.add(hh, ops.multiply(z, ops.subtract(h, hh)))
        return h, [h]

    def _config_head(self):
        return {**super()._config_head(),
                "recurrent_activation": activations.serialize(self.recurrent_activation)}

    def _config_tail(self):
        return {"implementation": self.implementation, "reset_after": self.reset_after}
