"""``gk.layers``: every layer, with tf.keras names, arguments and weights."""
from graphkeras.engine.base_layer import InputSpec, Layer  # noqa: F401
from graphkeras.engine.input_layer import Input, InputLayer  # noqa: F401
from graphkeras.layers.core import (  # noqa: F401
    Activation, Dense, Dropout, Embedding, Flatten, Lambda, Permute, RepeatVector, Reshape)
