"""``RNN``: a cell looped over time, and ``StackedRNNCells``.

The loop is one ``scan`` (see ``compiler/ops/control.py``): traced, it is a single
ONNX ``Loop`` whose trip count is the sequence length read at run time, so one graph
serves every batch size and every sequence length, and its gradient (a reverse scan)
is part of the fused train step; eagerly it is a Python loop over numpy.

Built-in cells take a fast path: the input projection ``x @ kernel + bias`` of every
time step is one matrix product before the loop (time-major ``(time * batch, features)``
rows), and the loop body holds only the recurrent product and the gates. Masked steps
keep the previous state and repeat the previous output (zeros instead with
``zero_output_for_mask``, which ``Bidirectional`` sets for sequences), as tf.keras'
``backend.rnn`` does.
"""
from __future__ import annotations

import inspect

import numpy as np

from graphkeras.compiler import ops
from graphkeras.compiler.ops.shape import broadcast_like
from graphkeras.compiler.ops.linalg import arange_like
from graphkeras.compiler.primitive import Tensor
from graphkeras.engine.base_layer import InputSpec, Layer
from graphkeras.engine.keras_tensor import KerasTensor, flatten, pack_like
from graphkeras.layers.core import register
from graphkeras.layers.recurrent.cells import (
    DropoutRNNCellMixin, GRUCell, LSTMCell, SimpleRNNCell, _Cell, zeros_for_batch)
from graphkeras.variables import Variable

_BUILTIN_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


# ------------------------------------------------------------------ helpers
def is_multiple_state(state_size):
    return isinstance(state_size, (list, tuple))


def flat_state_sizes(state_size):
    """State sizes (ints, or shape tuples of one state) flattened in order."""
    if not is_multiple_state(state_size):
        return [state_size]
    out = []
    for s in state_size:
        out += flat_state_sizes(s)
    return out


def _state_structure(state_size):
    """A nested list with one leaf per state, shaped like ``state_size``."""
    if not is_multiple_state(state_size):
        return None
    return [_state_structure(s) if is_multiple_state(s) else None for s in state_size]


def _size_tuple(size):
    return tuple(size) if isinstance(size, (list, tuple)) else (int(size),)


def rename_weights(layer, prefix):
    """Name ``layer``'s weights (and its dropout generators' state) as tf.keras does for
    a sublayer built inside its parent: ``<parent>/<sublayer>/<weight>``."""
    for w in layer.weights + _generator_states(layer):
        if not w.name.startswith(prefix + "/"):
            w.name = f"{prefix}/{w.name}"


def _generator_states(layer):
    out = []
    if isinstance(layer, DropoutRNNCellMixin):
        out += layer._state_variables()
    for sub in getattr(layer, "_layers", []):
        out += _generator_states(sub)
    return out


def reverse_time(x):
    """``x`` reversed along axis 0 (a run-time length): a gather by ``-1, -2, ...``."""
    index = ops.subtract(np.int64(-1), arange_like(x, 0))
    return ops.take(x, index, axis=0)


def _swap01(x):
    rank = len(x.shape)
    return ops.transpose(x, (1, 0) + tuple(range(2, rank)))


def _fmt_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _state_spec_repr(states):
    parts = [f"InputSpec(shape={_fmt_shape(tuple(s.shape))}, ndim={len(s.shape)})" for s in states]
    return "ListWrapper([" + ", ".join(parts) + "])"


def standardize_args(inputs, initial_state, constants, num_constants):
    """tf.keras' rule: ``[x, *initial_state, *constants]`` as one list is split apart."""
    if isinstance(inputs, list):
        if initial_state is not None or constants is not None:
            raise ValueError("When `inputs` is a list, pass the initial states and constants "
                             "inside it, not also as `initial_state` / `constants`.")
        inputs = list(inputs)
        if num_constants:
            constants = inputs[-num_constants:]
            inputs = inputs[:-num_constants]
        if len(inputs) > 1:
            initial_state = inputs[1:]
        inputs = inputs[0]

    def to_list_or_none(x):
        if x is None or isinstance(x, list):
            return x
        if isinstance(x, tuple):
            return list(x)
        return [x]

    return inputs, to_list_or_none(initial_state), to_list_or_none(constants)


# ---------------------------------------------------------------- stacked
@register
class StackedRNNCells(Layer):
    """Cells run one after the other within each time step (tf.keras ``StackedRNNCells``)."""

    def __init__(self, cells, **kwargs):
        for cell in cells:
            if "call" not in dir(cell):
                raise ValueError("All cells must have a `call` method. Received cell without a "
                                 f"`call` method: {cell}")
            if "state_size" not in dir(cell):
                raise ValueError("All cells must have a `state_size` attribute. Received cell "
                                 f"without a `state_size`: {cell}")
        self.reverse_state_order = kwargs.pop("reverse_state_order", False)
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        cells = self.cells[::-1] if self.reverse_state_order else self.cells
        return tuple(c.state_size for c in cells)

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        return flat_state_sizes(last.state_size)[0]

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(shape)
                cell.built = True
                cell._build_input_shape = shape
                rename_weights(cell, cell.name)  # cells name their weights by themselves
            out = getattr(cell, "output_size", None)
            if out is None:
                out = flat_state_sizes(cell.state_size)[0]
            shape = (shape[0],) + _size_tuple(out)
        self.built = True

    def call(self, inputs, states, constants=None, training=None, **kwargs):
        sizes = self.state_size[::-1] if self.reverse_state_order else self.state_size
        flat = flatten(states)
        nested, k = [], 0
        for size in sizes:
            n = len(flat_state_sizes(size))
            nested.append(flat[k:k + n])
            k += n
        if self.reverse_state_order:
            nested = nested[::-1]
        new_nested = []
        for cell, cell_states in zip(self.cells, nested):
            out, new = _call_cell(cell, inputs, cell_states, training, constants)
            inputs = out
            new_nested.append(flatten(new) if isinstance(new, (list, tuple)) else [new])
        if self.reverse_state_order:
            new_nested = new_nested[::-1]
        return inputs, new_nested

    def get_config(self):
        from graphkeras.engine.functional import serialize_layer
        return {**super().get_config(), "cells": [serialize_layer(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import deserialize_layer
        config = dict(config)
        cells = [deserialize_layer(c, custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


def _call_cell(cell, inputs, states, training, constants=None):
    """One step of any cell: tf.keras' calling convention (states as a list)."""
    kwargs = {}
    call = cell.call
    params = inspect.signature(call).parameters
    if "training" in params:
        kwargs["training"] = training
    if constants is not None:
        kwargs["constants"] = constants
    if isinstance(cell, (_Cell, StackedRNNCells)):
        return call(inputs, list(states), **kwargs)
    if isinstance(cell, Layer):
        return cell(inputs, list(states), **kwargs)
    return call(inputs, list(states), **kwargs)


def _leaf_cells(cell):
    if isinstance(cell, StackedRNNCells):
        out = []
        for c in cell.cells:
            out += _leaf_cells(c)
        return out
    return [cell]


# --------------------------------------------------------------------- RNN
@register
class RNN(Layer):
    """A recurrent layer around any cell (an object with ``call(inputs, states)`` and
    ``state_size``); a list of cells is stacked."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, time_major=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ValueError("Argument `cell` should have a `call` method. The RNN was passed: "
                             f"cell={cell}")
        if "state_size" not in dir(cell):
            raise ValueError("The RNN cell should have a `state_size` attribute (tuple of integers, "
                             f"one integer per RNN state). Received: cell={cell}")
        self.zero_output_for_mask = kwargs.pop("zero_output_for_mask", False)
        num_constants = kwargs.pop("num_constants", 0)
        if "input_shape" not in kwargs and ("input_dim" in kwargs or "input_length" in kwargs):
            kwargs["input_shape"] = (kwargs.pop("input_length", None), kwargs.pop("input_dim", None))
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.time_major = time_major
        self.supports_masking = True
        self.input_spec = None
        self.state_spec = None
        self._states = None
        self._num_constants = num_constants
        # Bidirectional asks its backward layer for outputs in sequence order (it would
        # reverse them back otherwise)
        self._sequence_order = False

    # ---------------------------------------------------------- states
    @property
    def states(self):
        if self._states is None:
            return [None] * len(self._state_sizes()) if not isinstance(self.cell, StackedRNNCells) \
                else pack_like(_state_structure(self.cell.state_size),
                               [None] * len(self._state_sizes()))
        return self._states_structured(self._states)

    @states.setter
    def states(self, value):
        self._states = flatten(value) if value is not None else None

    def _state_sizes(self):
        return flat_state_sizes(self.cell.state_size)

    def _states_structured(self, flat):
        structure = _state_structure(self.cell.state_size)
        if structure is None:
            return list(flat)
        return pack_like(structure, list(flat))

    def _batch_size(self):
        spec = self.input_spec[0] if isinstance(self.input_spec, list) and self.input_spec else None
        shape = getattr(spec, "shape", None)
        if shape is None:
            return None
        return shape[1] if self.time_major else shape[0]

    def reset_states(self, states=None):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        batch = self._batch_size()
        if not batch:
            raise ValueError(_STATEFUL_BATCH_ERROR)
        sizes = self._state_sizes()
        if self._states is None:
            self._states = [Variable(np.zeros((batch,) + _size_tuple(s), self.dtype),
                                     name=f"{self.name}/state_{i}", trainable=False)
                            for i, s in enumerate(sizes)]
        if states is None:
            for var in self._states:
                var.assign(np.zeros(var.shape, var.dtype))
            return
        values = flatten(states) if isinstance(states, (list, tuple)) else [states]
        if len(values) != len(self._states):
            raise ValueError(f"Layer {self.name} expects {len(self._states)} states, but it "
                             f"received {len(values)} state values. States received: {states}")
        for i, (value, var) in enumerate(zip(values, self._states)):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"State {i} is incompatible with layer {self.name}: expected "
                                 f"shape={(batch,) + var.shape[1:]} but found shape={value.shape}")
        for value, var in zip(values, self._states):
            var.assign(np.asarray(value, var.dtype))

    # ----------------------------------------------------------- build
    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected ndim=3, found ndim={len(shape)}. Full shape received: "
                             f"{_fmt_shape(shape)}")
        batch_i, time_i = (1, 0) if self.time_major else (0, 1)
        spec = list(shape)
        if not self.stateful:
            spec[batch_i] = None
        spec[time_i] = None
        spec = InputSpec(shape=tuple(spec))
        if isinstance(self.input_spec, list) and self.input_spec:
            self.input_spec[0] = spec
        else:
            self.input_spec = [spec]
        step_shape = shape[1:] if self.time_major else (shape[0],) + shape[2:]
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build(step_shape)
            self.cell.built = True
            self.cell._build_input_shape = step_shape
            rename_weights(self.cell, self.cell.name)
        rename_weights(self.cell, self.name)
        if self.stateful:
            self.reset_states()
        self.built = True

    # ------------------------------------------------------------ call
    def __call__(self, *args, **kwargs):
        if args:
            inputs, args = args[0], args[1:]
        else:
            inputs = kwargs.pop("inputs")
        initial_state = kwargs.pop("initial_state", None)
        constants = kwargs.pop("constants", None)
        inputs, initial_state, constants = standardize_args(inputs, initial_state, constants,
                                                            self._num_constants)
        if initial_state is None and constants is None:
            return super().__call__(inputs, *args, **kwargs)
        additional = list(initial_state or []) + list(constants or [])
        if constants is not None:
            self._num_constants = len(constants)
        flat = flatten(additional)
        symbolic = [isinstance(t, KerasTensor) for t in flat]
        if any(symbolic) and not all(symbolic):
            raise ValueError(
                "The initial state or constants of an RNN layer cannot be specified via a mix of "
                "Keras tensors and non-Keras tensors (a \"Keras tensor\" is a tensor that was "
                "returned by a Keras layer or by `Input` during Functional model construction). "
                f"Received: initial_state={initial_state}, constants={constants}")
        if initial_state is not None:
            self._check_initial_state(initial_state)
        if flat and all(symbolic):
            saved = self.input_spec
            self.input_spec = (list(saved) if saved else [None]) + [None] * len(additional)
            try:
                return super().__call__([inputs] + additional, *args, **kwargs)
            finally:
                self.input_spec = self.input_spec[:len(self.input_spec) - len(additional)]
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if constants is not None:
            kwargs["constants"] = constants
        return super().__call__(inputs, *args, **kwargs)

    def _check_initial_state(self, initial_state):
        sizes = self._state_sizes()
        flat = flatten(initial_state)
        symbolic = flat and isinstance(flat[0], KerasTensor)
        if len(flat) != len(sizes) and not symbolic:
            raise ValueError(f"Layer has {len(sizes)} states but was passed {len(flat)} initial "
                             f"states. Received: initial_state={initial_state}")
        ok = len(flat) == len(sizes)
        for s, size in zip(flat, sizes):
            shape = tuple(getattr(s, "shape", np.shape(s)))
            want = _size_tuple(size)
            if len(shape) != len(want) + 1 or any(a is not None and a != b
                                                   for a, b in zip(shape[1:], want)):
                ok = False
        if not ok:
            cell_sizes = self.cell.state_size
            cell_sizes = list(cell_sizes) if is_multiple_state(cell_sizes) else [cell_sizes]
            raise ValueError("An `initial_state` was passed that is not compatible with "
                             f"`cell.state_size`. Received `state_spec`={_state_spec_repr(flat)}; "
                             f"however `cell.state_size` is {cell_sizes}")

    def call(self, inputs, mask=None, training=None, initial_state=None, constants=None):
        if isinstance(inputs, list):
            inputs, initial_state, constants = standardize_args(inputs, None, None,
                                                                self._num_constants)
        if mask is not None:
            mask = flatten(mask)[0]
        return self._run(inputs, mask, training, initial_state, constants)

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self._state_sizes())
        return output_mask

    # ------------------------------------------------------------ loop
    def _fast_cell(self):
        """The built-in cell whose input projection can leave the loop (None otherwise)."""
        return self.cell if isinstance(self.cell, _BUILTIN_CELLS) else None

    def _output_state_index(self):
        """Index of the flat state that equals the output, for built-in cells."""
        cells = _leaf_cells(self.cell)
        if not all(isinstance(c, _BUILTIN_CELLS) for c in cells):
            return None
        if isinstance(self.cell, StackedRNNCells) and self.cell.reverse_state_order:
            return 0
        return len(self._state_sizes()) - len(flat_state_sizes(cells[-1].state_size))

    def _input_dropout_in_cell(self):
        return True

    def _initial_states(self, x_tm, initial_state):
        sizes = self._state_sizes()
        batch_col = ops.getitem(x_tm, (0, slice(None)) + (slice(0, 1),) +
                                (0,) * (len(x_tm.shape) - 3))
        if initial_state is not None:
            flat = flatten(initial_state)
            self._check_initial_state(flat)
            init = [s if getattr(s, "dtype", None) == self.dtype else ops.cast(s, self.dtype)
                    for s in flat]
        else:
            custom = getattr(self.cell, "get_initial_state", None)
            if custom is not None and not isinstance(self.cell, (_Cell, StackedRNNCells)) and \
                    not isinstance(x_tm, Tensor):
                init = flatten(custom(inputs=None, batch_size=x_tm.shape[1], dtype=self.dtype))
            else:
                init = [zeros_for_batch(batch_col, s, self.dtype) if isinstance(s, int) or
                        np.ndim(s) == 0 else
                        broadcast_like(np.zeros((1,) + _size_tuple(s), self.dtype),
                                           ops.reshape(batch_col, (-1,) + (1,) * len(_size_tuple(s))))
                        for s in sizes]
        if self.stateful:
            stored = list(self._states)
            if initial_state is None:
                init = stored
            else:  # tf.keras: the stored states win once they are not all zeros
                nonzero = None
                for s in stored:
                    n = ops.sum(ops.cast(ops.not_equal(s, np.zeros((), self.dtype)), "float32"))
                    nonzero = n if nonzero is None else ops.add(nonzero, n)
                use = ops.greater(nonzero, np.float32(0))
                init = [ops.where(use, s, i) for s, i in zip(stored, init)]
        return init, batch_col

    def _run(self, inputs, mask, training, initial_state, constants):
        x = inputs
        if x.dtype != self.dtype:
            x = ops.cast(x, self.dtype)
        shape = tuple(x.shape)
        timesteps = shape[0] if self.time_major else shape[1]
        if self.unroll and timesteps is None:
            raise ValueError(_UNROLL_ERROR)
        if constants and "constants" not in inspect.signature(self.cell.call).parameters:
            raise ValueError(f"RNN cell {self.cell} does not support constants. Received: "
                             f"constants={constants}")
        x_tm = x if self.time_major else _swap01(x)
        init, batch_col = self._initial_states(x_tm, initial_state)
        n_states = len(init)
        cells = _leaf_cells(self.cell)
        fast = self._fast_cell()
        input_dim = shape[-1]
        # dropout masks, drawn once for the whole sequence
        for i, cell in enumerate(cells):
            if isinstance(cell, DropoutRNNCellMixin):
                dim = input_dim if i == 0 else _size_tuple(
                    getattr(cells[i - 1], "output_size", None) or
                    flat_state_sizes(cells[i - 1].state_size)[0])[-1]
                cell._masks = cell._draw_masks(batch_col, dim, training,
                                               input_dropout=i > 0 or self._input_dropout_in_cell())
        x_tm = self._fused_input_dropout(x_tm, training)
        try:
            if fast is not None:
                seqs = fast._project(x_tm, fast._masks[0])
                rec = fast._masks[1]
                consts = fast._constants(rec)

                def step(xs, states):
                    return fast._recur(xs, states, rec, consts)
            else:
                seqs = [x_tm]

                def step(xs, states):
                    out, new = _call_cell(self.cell, xs[0], states, training, constants)
                    return out, (flatten(new) if isinstance(new, (list, tuple)) else [new])
            outputs = self._loop(step, seqs, init, mask, n_states, batch_col)
        finally:
            for cell in cells:
                if isinstance(cell, DropoutRNNCellMixin):
                    cell._masks = None
        output, final_states = outputs
        if self.stateful:
            for var, value in zip(self._states, final_states):
                var.assign(value)
        if self.return_state:
            states = self._states_structured(final_states)
            return [output] + (states if isinstance(states, list) else [states])
        return output

    def _fused_input_dropout(self, x_tm, training):
        return x_tm

    def _loop(self, step, seqs, init, mask, n_states, batch_col):
        """Run ``step`` over ``seqs`` (time-major); returns (output, final flat states)."""
        out_index = self._output_state_index()
        masked = mask is not None
        track_out = masked or out_index is None
        n_seq = len(seqs)
        seqs = list(seqs)
        if masked:
            m = mask if mask.dtype == "bool" else ops.cast(mask, "bool")
            m = m if self.time_major else ops.transpose(m, (1, 0))
            seqs.append(ops.expand_dims(m, -1))
        zero_out = self.zero_output_for_mask
        ret_seq = self.return_sequences
        carry = list(init)
        if track_out:
            size = _size_tuple(getattr(self.cell, "output_size", None) or
                               flat_state_sizes(self.cell.state_size)[0])
            prev = zeros_for_batch(batch_col, size[0], self.dtype) if len(size) == 1 else \
                broadcast_like(np.zeros((1,) + size, self.dtype),
                                   ops.reshape(batch_col, (-1,) + (1,) * len(size)))
            carry.append(prev)

        def body(c, xs):
            states = c[:n_states]
            out, new = step(xs[:n_seq], states)
            new = list(new)
            if not masked:
                ys = [out] if ret_seq else []
                return new + ([out] if track_out else []), ys
            m_t = xs[n_seq]
            new = [ops.where(m_t, a, b) for a, b in zip(new, states)]
            out_m = ops.where(m_t, out, c[n_states])
            ys = []
            if ret_seq:
                ys = [ops.where(m_t, out, np.zeros((), out.dtype)) if zero_out else out_m]
            return new + [out_m], ys

        final, ys = ops.scan(body, carry, seqs, reverse=self.go_backwards, name=self.name)
        final_states = list(final[:n_states])
        if ret_seq:
            out = ys[0]
            if self.go_backwards and not self._sequence_order:
                out = reverse_time(out)  # tf.keras returns them in processing order
            if not self.time_major:
                out = _swap01(out)
        else:
            out = final[n_states] if track_out else final_states[out_index]
            if masked and zero_out:
                m_last = seqs[n_seq][0 if self.go_backwards else -1]
                out = ops.where(m_last, out, np.zeros((), out.dtype))
        return out, final_states

    # ---------------------------------------------------------- config
    def get_config(self):
        from graphkeras.engine.functional import serialize_layer
        config = {**super().get_config(), **self._rnn_config()}
        config["cell"] = serialize_layer(self.cell)
        return config

    def _rnn_config(self):
        config = {"return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards, "stateful": self.stateful,
                  "unroll": self.unroll, "time_major": self.time_major}
        if self._num_constants:
            config["num_constants"] = self._num_constants
        if self.zero_output_for_mask:
            config["zero_output_for_mask"] = self.zero_output_for_mask
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import deserialize_layer
        config = dict(config)
        cell = deserialize_layer(config.pop("cell"), custom_objects)
        return cls(cell, **config)


_STATEFUL_BATCH_ERROR = (
    "If a RNN is stateful, it needs to know its batch size. Specify the batch size of your "
    "input tensors: \n"
    "- If using a Sequential model, specify the batch size by passing a `batch_input_shape` "
    "argument to your first layer.\n"
    "- If using the functional API, specify the batch size by passing a `batch_shape` argument "
    "to your Input layer.")

_UNROLL_ERROR = (
    "Cannot unroll a RNN if the time dimension is undefined. \n"
    "- If using a Sequential model, specify the time dimension by passing an `input_shape` or "
    "`batch_input_shape` argument to your first layer. If your first layer is an Embedding, you "
    "can also use the `input_length` argument.\n"
    "- If using the functional API, specify the time dimension by passing a `shape` or "
    "`batch_shape` argument to your Input layer.")
