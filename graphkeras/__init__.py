"""graphkeras: the tf.keras Model API, compiled to ONNX graphs.

    import graphkeras as gk
    inputs = gk.Input(shape=(784,))
    outputs = gk.layers.Dense(10, activation="softmax")(inputs)
    model = gk.Model(inputs, outputs)
    model.predict(x)          # one ONNX graph, run by ONNX Runtime
"""
__version__ = "0.1.0"

from graphkeras import activations, backend, config, initializers, regularizers  # noqa: F401
from graphkeras import export, ops, utils  # noqa: F401
from graphkeras import callbacks  # noqa: F401
from graphkeras import layers  # noqa: F401
from graphkeras.engine.functional import Functional  # noqa: F401
from graphkeras.engine.input_layer import Input  # noqa: F401
from graphkeras.engine.sequential import Sequential  # noqa: F401
from graphkeras.engine.training import Model  # noqa: F401
from graphkeras.variables import Variable  # noqa: F401
from graphkeras import models  # noqa: F401
from graphkeras import experimental  # noqa: F401
from graphkeras import optimizers  # noqa: F401
from graphkeras import losses  # noqa: F401
from graphkeras import metrics  # noqa: F401
from graphkeras import callbacks  # noqa: F401
from graphkeras.engine.gradient_tape import GradientTape  # noqa: F401
from graphkeras import distribute  # noqa: F401
