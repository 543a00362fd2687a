"""Premade models: ``LinearModel`` and ``WideDeepModel`` (tf.keras'
``tf.keras.experimental.LinearModel`` / ``WideDeepModel``).

Both are subclassed models written on graphkeras ops, so they train through the
compiled train step like any other model. ``WideDeepModel`` can be compiled with
two optimizers, ``compile(optimizer=[linear_opt, dnn_opt], ...)``: its
``train_step`` applies the first to the linear model's variables and the second
to the DNN's, in the same traced step.
"""
from __future__ import annotations

from graphkeras import activations, initializers, regularizers, serialization
from graphkeras.compiler import ops
from graphkeras.engine.gradient_tape import GradientTape
from graphkeras.engine.training import Model, unpack_x_y_sample_weight
from graphkeras.layers.core import Dense

KERAS_VERSION = "2.15.0"


def _register(cls):
    return serialization.register("layer")(cls)


def _is_shape_list(input_shape):
    """True for a list of shapes (several inputs), False for one shape."""
    return isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and \
        all(isinstance(s, (list, tuple)) for s in input_shape)


class _PremadeJson:
    """``to_json`` in tf.keras' form for a premade model: its class name and config."""

    def to_json(self, **kwargs):
        import json
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config(),
                           "keras_version": KERAS_VERSION, "backend": "tensorflow"}, **kwargs)


@_register
class LinearModel(_PremadeJson, Model):
    """Linear model for regression and classification: ``y = activation(b + sum_i x_i W_i)``.

    With a list or dict of inputs, each input gets its own kernel (a bias-free
    ``Dense`` layer; named after the key for a dict) and the products are summed.
    """

    _keras_module = "keras.experimental"

    def __init__(self, units=1, activation=None, use_bias=True, kernel_initializer="zeros",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        super().__init__(**kwargs)
        self._weight_prefix = ""  # a WideDeepModel that builds this model inside its call sets it

    def build(self, input_shape):
        if self.built:
            return
        if isinstance(input_shape, dict):
            names = sorted(input_shape)
            shapes = [input_shape[n] for n in names]
        elif _is_shape_list(input_shape):
            names = [None] * len(input_shape)
            shapes = list(input_shape)
        else:
            names, shapes = [None], [input_shape]
        self._input_is_dict = isinstance(input_shape, dict)
        dense_layers = []
        weight_name = f"{self._weight_prefix}{self.name}"
        for name, shape in zip(names, shapes):
            layer = Dense(units=self.units, use_bias=False,
                          kernel_initializer=self.kernel_initializer,
                          kernel_regularizer=self.kernel_regularizer, name=name)
            shape = tuple(shape)
            layer.build(shape)
            layer._build_input_shape = shape
            layer.built = True
            layer.kernel.name = f"{weight_name}/kernel:0"  # tf.keras: created in the model's scope
            dense_layers.append(layer)
        self.dense_layers = dense_layers
        if self.use_bias:
            self.bias = self.add_weight("bias", shape=(self.units,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, dtype=self.dtype)
            self.bias.name = f"{weight_name}/bias:0"
        else:
            self.bias = None
        self._build_input_shape = input_shape
        self.built = True

    def call(self, inputs):
        layers = self.dense_layers
        if isinstance(inputs, dict):
            names = [layer.name for layer in layers]
            missing = set(names) - set(inputs)
            if missing:
                raise ValueError(
                    "The `inputs` dictionary does not match the structure expected by the "
                    f"model.\n\tExpected keys: {set(names)}\n\tReceived keys: {set(inputs)}\n"
                    f"\tMissing keys: {missing}")
            parts = [layer(inputs[layer.name]) for layer in layers]
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != len(layers):
                raise ValueError(
                    f"Model {self.name!r} was built for {len(layers)} input(s) (one kernel "
                    f"each) but received a list of {len(inputs)} inputs.")
            parts = [layer(x) for layer, x in zip(layers, inputs)]
        else:
            if len(layers) != 1:
                raise ValueError(
                    f"Model {self.name!r} was built for {len(layers)} inputs (one kernel each) "
                    "but received a single input. Pass a list or dict of inputs.")
            parts = [layers[0](inputs)]
        result = parts[0]
        for part in parts[1:]:
            result = ops.add(result, part)
        if self.use_bias:
            result = ops.add(result, self.bias)
        return self.activation(result)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


@_register
class WideDeepModel(_PremadeJson, Model):
    """Wide & Deep model: ``activation(linear_model(x_linear) + dnn_model(x_dnn))``.

    Inputs are ``[linear_inputs, dnn_inputs]``, or one input shared by both
    models. Compile with one optimizer, or with ``optimizer=[linear_opt, dnn_opt]``
    to train each sub-model with its own.
    """

    _keras_module = "keras.experimental"

    def __init__(self, linear_model, dnn_model, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.linear_model = linear_model
        self.dnn_model = dnn_model
        self.activation = activations.get(activation)

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            linear_inputs = dnn_inputs = inputs
        else:
            linear_inputs, dnn_inputs = inputs
        if isinstance(self.linear_model, LinearModel) and not self.linear_model.built:
            # tf.keras creates these weights inside this model's name scope
            self.linear_model._weight_prefix = f"{self.name}/"
        linear_output = self.linear_model(linear_inputs)
        if getattr(self.dnn_model, "_call_has_training", False):
            dnn_output = self.dnn_model(dnn_inputs, training=training)
        else:
            dnn_output = self.dnn_model(dnn_inputs)
        if isinstance(linear_output, (list, tuple)):
            output = [ops.add(a, b) for a, b in zip(linear_output, dnn_output)]
            return [self.activation(o) for o in output]
        return self.activation(ops.add(linear_output, dnn_output))

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        if isinstance(self.optimizer, (list, tuple)):
            linear_vars = self.linear_model.trainable_variables
            dnn_vars = self.dnn_model.trainable_variables
            linear_grads, dnn_grads = tape.gradient(loss, (linear_vars, dnn_vars))
            self.optimizer[0].apply_gradients(zip(linear_grads, linear_vars))
            self.optimizer[1].apply_gradients(zip(dnn_grads, dnn_vars))
        else:
            variables = self.trainable_variables
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(gradients, variables))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                "linear_model": _serialize_model(self.linear_model),
                "dnn_model": _serialize_model(self.dnn_model),
                "activation": activations.serialize(self.activation)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import deserialize_layer
        config = dict(config)
        linear_model = deserialize_layer(config.pop("linear_model"), custom_objects)
        dnn_model = deserialize_layer(config.pop("dnn_model"), custom_objects)
        activation = activations.deserialize(config.pop("activation", None), custom_objects)
        return cls(linear_model=linear_model, dnn_model=dnn_model, activation=activation, **config)


def _serialize_model(model):
    from graphkeras.engine.functional import Functional, serialize_layer
    entry = serialize_layer(model)
    if isinstance(model, Functional) and entry["module"] is not None:
        entry["module"] = "keras"  # tf.keras files Sequential and Functional under `keras`
    return entry


__all__ = ["LinearModel", "WideDeepModel"]
