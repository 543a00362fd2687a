"""``SimpleRNN``, ``LSTM`` and ``GRU``: an ``RNN`` around their own cell, with tf.keras
2.x arguments, defaults, configs and weight names (``lstm/lstm_cell/kernel``, ...)."""
from __future__ import annotations

from graphkeras import activations, regularizers
from graphkeras.layers.core import register
from graphkeras.layers.recurrent.base import RNN
from graphkeras.layers.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell, _keep_mask, apply_dropout
from graphkeras.engine.base_layer import InputSpec

_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "unit_forget_bias",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "implementation", "reset_after")


class _CellLayer(RNN):
    """An RNN that owns one built-in cell and exposes its arguments."""

    _cell_class = None
    _cell_name = None

    def __init__(self, cell_kwargs, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, time_major=False, unroll=False,
                 activity_regularizer=None, **kwargs):
        kwargs.pop("return_runtime", None)
        if "enable_caching_device" in kwargs:
            cell_kwargs["enable_caching_device"] = kwargs.pop("enable_caching_device")
        if "implementation" in kwargs:
            implementation = kwargs.pop("implementation")
            cell_kwargs["implementation"] = 2 if implementation == 0 else implementation
        cell = self._cell_class(**cell_kwargs, dtype=kwargs.get("dtype"),
                                trainable=kwargs.get("trainable", True),
                                _internal_name=self._cell_name)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         time_major=time_major, **kwargs)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.input_spec = [InputSpec(ndim=3)]

    def __getattr__(self, name):
        if name in _CELL_ARGS:
            cell = self.__dict__.get("cell")
            if cell is not None and hasattr(cell, name):
                return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self):
        config = {**RNN.get_config(self)}
        del config["cell"]
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        for key, value in cell.items():
            config[key] = value
            if key == "bias_regularizer":
                config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if config.get("implementation") == 0:
            config["implementation"] = 1
        config.pop("cell", None)
        return cls(**config)

    def _fused_dropout(self):
        """tf.keras' cuDNN-compatible path (standard activations, no recurrent dropout, not
        unrolled, with biases) drops inputs with a fresh mask at every time step; the cell
        path draws one mask per sequence."""
        return False

    def _input_dropout_in_cell(self):
        return not self._fused_dropout()

    def _fused_input_dropout(self, x_tm, training):
        rate = self.cell.dropout
        if not (training and self._fused_dropout() and 0 < rate < 1):
            return x_tm
        return apply_dropout(x_tm, _keep_mask(x_tm, rate, self.cell._rng), rate)


@register
class SimpleRNN(_CellLayer):
    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, **kwargs):
        cell_kwargs = dict(units=units, activation=activation, use_bias=use_bias,
                           kernel_initializer=kernel_initializer,
                           recurrent_initializer=recurrent_initializer,
                           bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                           recurrent_regularizer=recurrent_regularizer,
                           bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                           recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint, dropout=dropout,
                           recurrent_dropout=recurrent_dropout)
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)


def _standard(cell, unroll):
    return (cell.activation is activations.tanh and cell.recurrent_activation is activations.sigmoid
            and cell.recurrent_dropout == 0 and not unroll and cell.use_bias)


@register
class LSTM(_CellLayer):
    _cell_class = LSTMCell
    _cell_name = "lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, time_major=False, unroll=False, **kwargs):
        cell_kwargs = dict(units=units, activation=activation,
                           recurrent_activation=recurrent_activation, use_bias=use_bias,
                           kernel_initializer=kernel_initializer,
                           recurrent_initializer=recurrent_initializer,
                           bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                           kernel_regularizer=kernel_regularizer,
                           recurrent_regularizer=recurrent_regularizer,
                           bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                           recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint, dropout=dropout,
                           recurrent_dropout=recurrent_dropout)
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, time_major=time_major,
                         unroll=unroll, activity_regularizer=activity_regularizer, **kwargs)

    def _fused_dropout(self):
        return _standard(self.cell, self.unroll)


@register
class GRU(_CellLayer):
    _cell_class = GRUCell
    _cell_name = "gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, time_major=False,
                 reset_after=True, **kwargs):
        cell_kwargs = dict(units=units, activation=activation,
                           recurrent_activation=recurrent_activation, use_bias=use_bias,
                           kernel_initializer=kernel_initializer,
                           recurrent_initializer=recurrent_initializer,
                           bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                           recurrent_regularizer=recurrent_regularizer,
                           bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                           recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint, dropout=dropout,
                           recurrent_dropout=recurrent_dropout, reset_after=reset_after)
        super().__init__(cell_kwargs, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, time_major=time_major,
                         unroll=unroll, activity_regularizer=activity_regularizer, **kwargs)

    def _fused_dropout(self):
        return _standard(self.cell, self.unroll) and self.cell.reset_after

