"""``gk.layers``: every layer, with tf.keras names, arguments and weights."""
from graphkeras.engine.base_layer import InputSpec, Layer  # noqa: F401
from graphkeras.engine.input_layer import Input, InputLayer  # noqa: F401
from graphkeras.layers.core import (  # noqa: F401
    Activation, Dense, Dropout, Embedding, Flatten, Lambda, Permute, RepeatVector, Reshape)
from graphkeras.layers.op_lambda import TFOpLambda  # noqa: F401
from graphkeras.layers.convolutional import (  # noqa: F401
    Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Convolution1D, Convolution1DTranspose,
    Convolution2D, Convolution2DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
    SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from graphkeras.layers.pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from graphkeras.layers.reshaping import (  # noqa: F401
    Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from graphkeras.layers.merging import (  # noqa: F401
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average,
    concatenate, dot, maximum, minimum, multiply, subtract)
from graphkeras.layers.normalization import BatchNormalization, LayerNormalization  # noqa: F401
from graphkeras.layers.activation import (  # noqa: F401
    ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU)
from graphkeras.layers.masking import Masking  # noqa: F401
from graphkeras.layers.einsum_dense import EinsumDense  # noqa: F401
from graphkeras.layers.wrappers import TimeDistributed, Wrapper  # noqa: F401
from graphkeras.layers.attention import AdditiveAttention, Attention, MultiHeadAttention  # noqa: F401
from graphkeras.layers.recurrent import (  # noqa: F401
    GRU, LSTM, RNN, Bidirectional, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell, StackedRNNCells)
