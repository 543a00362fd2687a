"""Recurrent layers (tf.keras 2.x): ``SimpleRNN``, ``LSTM``, ``GRU``, their cells,
``RNN`` for any cell (a list of cells is stacked) and ``Bidirectional``.

``base`` holds the loop (one ``scan``: an ONNX ``Loop`` over the run-time sequence
length), ``cells`` the cells, ``layers`` the three layers, ``bidirectional`` the wrapper.
"""
from graphkeras.layers.recurrent.base import RNN, StackedRNNCells  # noqa: F401
from graphkeras.layers.recurrent.bidirectional import Bidirectional  # noqa: F401
from graphkeras.layers.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell  # noqa: F401
from graphkeras.layers.recurrent.layers import GRU, LSTM, SimpleRNN  # noqa: F401
