"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute,
RepeatVector, Lambda, Embedding."""
from __future__ import annotations

import math

import numpy as np

from graphkeras import activations, initializers, regularizers, serialization
from graphkeras.compiler import ops
from graphkeras.engine.base_layer import InputSpec, Layer

register = lambda cls: serialization.register("layer")(cls)  # noqa: E731


def constraint_config(constraint):
    if constraint is None:
        return None
    return serialization.serialize(constraint, "keras.constraints")


class SeedGenerator:
    """Randomness as state: a seed (from ``seed``, or drawn from the generator that
    ``gk.utils.set_random_seed`` seeds) and a counter that each draw advances. In a
    compiled step the counter is state like a weight, so the same seed gives the
    same masks on ONNX Runtime and on the numpy path, and a resumed run continues
    the sequence. It is not a weight: ``get_weights`` does not list it."""

    def __init__(self, seed, name):
        from graphkeras import backend
        from graphkeras.variables import Variable
        self.seed = int(seed) if seed is not None else int(backend.rng().integers(2**31 - 1))
        self.state = Variable(np.zeros((), np.int64), name=name, trainable=False, dtype="int64")

    def next_key(self):
        key = ops.add(ops.multiply(self.state, np.int64(1000003)), np.int64(self.seed))
        self.state.assign_add(np.int64(1))
        return key


@register
class Dense(Layer):
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = int(units) if not isinstance(units, int) else units
        if self.units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        last = input_shape[-1]
        if last is None:
            raise ValueError("The last dimension of the inputs to a Dense layer should be defined. "
                             "Found None. Full input shape received: " + str(tuple(input_shape)))
        self.input_spec = InputSpec(min_ndim=2, axes={-1: last})
        self.kernel = self.add_weight("kernel", shape=(last, self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", shape=(self.units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        if inputs.dtype != self.dtype:
            inputs = ops.cast(inputs, self.dtype)
        y = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraint_config(self.kernel_constraint),
                "bias_constraint": constraint_config(self.bias_constraint)}


@register
class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@register
class Dropout(Layer):
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                             f"between 0 and 1. Received: rate={rate}")
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed
        self.supports_masking = True
        self._rng = SeedGenerator(seed, f"{self.name}/seed_generator")

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        source = inputs
        if self.noise_shape is not None:
            # one draw per position of the noise shape, broadcast over the other axes
            source = inputs[tuple(slice(0, 1) if d == 1 else slice(None) for d in self.noise_shape)]
        keep = ops.greater_equal(ops.hash_uniform(source, self._rng.next_key()), np.float32(self.rate))
        scale = np.asarray(1.0 / (1.0 - self.rate), dtype=inputs.dtype)
        return ops.where(keep, ops.multiply(inputs, scale), np.zeros((), inputs.dtype))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


@register
class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        x = inputs
        if self.data_format == "channels_first" and len(x.shape) > 2:
            x = ops.transpose(x, [0] + list(range(2, len(x.shape))) + [1])
        if len(x.shape) == 1:
            return ops.expand_dims(x, 1)
        tail = x.shape[1:]
        size = math.prod(tail) if all(d is not None for d in tail) else -1
        return ops.reshape(x, (None if x.shape[0] is None else x.shape[0], size))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register
class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        batch = inputs.shape[0]
        return ops.reshape(inputs, (batch,) + self.target_shape if batch is not None
                           else (None,) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


@register
class Permute(Layer):
    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of "
                             "indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


@register
class RepeatVector(Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.tile(ops.expand_dims(inputs, 1), (1, self.n, 1))

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register
class Lambda(Layer):
    """Wraps a function written on ``gk.ops``. Its config stores the function by
    registered name only: graphkeras never deserializes Python bytecode. A tf.keras
    config whose function is bytecode loads when the function is passed in
    ``custom_objects`` under the layer's name."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, (str, dict)):
            function = _lookup_function(function)
        self.function = function
        self.arguments = arguments or {}
        self._output_shape = output_shape

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        name = getattr(self.function, "__name__", "<lambda>")
        return {**super().get_config(), "function": name, "function_type": "registered",
                "output_shape": self._output_shape, "arguments": self.arguments}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        fn = config.pop("function", None)
        fn_type = config.pop("function_type", "registered")
        config.pop("module", None)
        if config.pop("output_shape_type", None) == "lambda":
            config["output_shape"] = None  # bytecode too: never loaded, shapes come from tracing
        config.pop("output_shape_module", None)
        name = config.get("name")
        bytecode = fn_type == "lambda" or isinstance(fn, (list, tuple))
        if bytecode or not isinstance(fn, (str, dict)):
            # Python bytecode (marshalled, base64): never decoded. The function must come
            # from the user, keyed by the layer's name.
            supplied = _supplied_function(name, custom_objects)
            if supplied is None:
                if bytecode:
                    what = ("holds its function as Python bytecode. Loading it would execute "
                            "code from the file, which graphkeras never does")
                else:
                    what = f"has no usable function in its config ({type(fn).__name__})"
                raise ValueError(
                    f"Lambda layer {name!r} {what}. Pass the function yourself, keyed by the "
                    f"layer's name: `load_model(..., custom_objects={{{name!r}: fn}})`.")
            return cls(supplied, **config)
        return cls(_lookup_function(fn, custom_objects), **config)


def _supplied_function(name, custom_objects):
    """A callable the user passed for ``name`` (``custom_objects`` or an enclosing
    ``custom_object_scope``); the registries are not consulted: a registered function
    that happens to share the layer's name is not the user's choice."""
    if not isinstance(name, str):
        return None
    for table in (custom_objects or {}, *reversed(getattr(serialization._custom, "stack", []))):
        fn = table.get(name)
        if callable(fn):
            return fn
    return None


def _lookup_function(name, custom_objects=None):
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    if not isinstance(name, str):
        raise ValueError(f"Invalid function {name!r} in a Lambda layer's config.")
    fn = serialization.lookup("function", name, custom_objects) or \
        serialization.lookup("activation", name, custom_objects)
    if fn is None:
        from graphkeras import ops as gk_ops
        fn = getattr(gk_ops, name, None)
    if fn is None:
        raise ValueError(f"Unknown function {name!r} in a Lambda layer. Pass it in "
                         "`custom_objects` or register it with "
                         "`gk.utils.register_keras_serializable`.")
    return fn


@register
class Embedding(Layer):
    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        if "input_shape" not in kwargs and input_length is not None:
            kwargs["input_shape"] = (input_length,) if np.isscalar(input_length) else tuple(input_length)
        kwargs.setdefault("dtype", "float32")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if input_dim <= 0 or output_dim <= 0:
            raise ValueError("Both `input_dim` and `output_dim` should be positive, Received "
                             f"input_dim = {input_dim} and output_dim = {output_dim}")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = embeddings_constraint
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self.input_length = input_length

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int64")
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def get_config(self):
        config = {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                  "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                  "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                  "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                  "embeddings_constraint": constraint_config(self.embeddings_constraint),
                  "mask_zero": self.mask_zero, "input_length": self.input_length}
        return config
