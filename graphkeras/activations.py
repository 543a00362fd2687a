"""Activation functions, written on gk.ops so they run eagerly and trace."""
from __future__ import annotations

import numpy as np

from graphkeras import serialization
from graphkeras.compiler import ops
from graphkeras.compiler.primitive import Tensor

_register = lambda *names: serialization.register("activation", *names)  # noqa: E731


@_register()
def linear(x):
    return x


@_register()
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """tf.keras' relu: ``alpha`` slope below ``threshold``, capped at ``max_value``."""
    if alpha == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    dtype = x.dtype
    if threshold != 0.0:
        y = ops.where(ops.greater(x, threshold), x, np.zeros((), dtype))  # tf: x * (x > t)
    else:
        y = ops.relu(x)
    if max_value is not None:
        y = ops.minimum(y, np.asarray(max_value, dtype))
    if alpha != 0.0:
        below = ops.multiply(ops.subtract(x, np.asarray(threshold, dtype)), np.asarray(alpha, dtype))
        y = ops.where(ops.less(x, threshold), below, y)
    return y


@_register()
def relu6(x):
    return ops.minimum(ops.relu(x), 6.0)


def _with_logits(out, logits):
    """Remember the logits on a symbolic output, as tf.keras does, so cross-entropy
    losses can use the numerically stable form."""
    if isinstance(out, Tensor):
        out._keras_logits = logits
    return out


@_register()
def sigmoid(x):
    return _with_logits(ops.sigmoid(x), x)


@_register()
def hard_sigmoid(x):
    # tf.keras 2.x: clip(0.2 * x + 0.5, 0, 1)
    return ops.clip(ops.add(ops.multiply(x, 0.2), 0.5), 0.0, 1.0)


@_register()
def softmax(x, axis=-1):
    return _with_logits(ops.softmax(x, axis=axis), x)


@_register()
def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis=axis)


@_register()
def tanh(x):
    return ops.tanh(x)


@_register()
def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


@_register()
def selu(x):
    return ops.selu(x)


@_register()
def softplus(x):
    return ops.softplus(x)


@_register()
def softsign(x):
    return ops.softsign(x)


@_register("swish", "silu")
def swish(x):
    return ops.multiply(x, ops.sigmoid(x))


silu = swish


@_register()
def gelu(x, approximate=False):
    if approximate:
        c = np.sqrt(2 / np.pi).astype(np.float32)
        inner = ops.multiply(ops.add(x, ops.multiply(ops.power(x, 3.0), 0.044715)), c)
        return ops.multiply(ops.multiply(x, 0.5), ops.add(ops.tanh(inner), 1.0))
    return ops.multiply(ops.multiply(x, 0.5), ops.add(ops.erf(ops.divide(x, np.float32(np.sqrt(2)))), 1.0))


@_register()
def exponential(x):
    return ops.exp(x)


@_register()
def mish(x):
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


@_register("leaky_relu")
def leaky_relu(x, alpha=0.2):
    return ops.leaky_relu(x, alpha)


def get(identifier):
    """An activation function from a name, a serialized dict, a callable or None."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        identifier = identifier.get("config", {}).get("name", identifier.get("class_name"))
    fn = serialization.lookup("activation", identifier)
    if fn is None:
        raise ValueError(f"Unknown activation function: {identifier!r}. Please ensure you are "
                         "using a gk.activations function or a registered custom one.")
    return fn


def serialize(activation):
    name = getattr(activation, "__name__", None)
    if name is not None and serialization.lookup("activation", name) is activation:
        return name
    if hasattr(activation, "get_config"):
        return serialization.serialize(activation, "keras.layers")
    return name


def deserialize(name, custom_objects=None):
    if isinstance(name, str) and custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(name)
