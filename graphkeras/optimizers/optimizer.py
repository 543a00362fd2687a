"""``Optimizer``: the base of the tf.keras 2.11+ optimizers (``tf.keras.optimizers.Adam``
etc., not ``legacy``), and ``get`` / ``serialize`` / ``deserialize``.

All state lives in :class:`graphkeras.Variable` objects and every update is written
with graphkeras ops and ``Variable.assign``, so ``apply_gradients`` runs eagerly on
numpy gradients and, inside a trace, records the new values as state outputs of the
compiled training step.
"""
from __future__ import annotations

import logging
import re

import numpy as np

from graphkeras import initializers, serialization
from graphkeras.compiler import ops
from graphkeras.compiler.primitive import Tensor
from graphkeras.optimizers import schedules
from graphkeras.variables import Variable

logger = logging.getLogger(__name__)
_LEGACY_KWARGS = ("decay", "gradient_aggregator", "gradient_transformers")


def register_optimizer(cls):
    """Make ``cls`` findable by ``get``/``deserialize`` under its class name."""
    return serialization.register("optimizer", cls.__name__)(cls)


class CallableList(list):
    """``optimizer.variables`` and ``optimizer.variables()`` both work, as in tf.keras."""

    def __call__(self):
        return self


class Optimizer:
    """Base class. Subclasses call ``super().__init__(name, ...)``, set
    ``self._learning_rate = self._build_learning_rate(learning_rate)``, create their
    slots in ``build`` and implement ``update_step(gradient, variable)``."""

    def __init__(self, name, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, jit_compile=True, **kwargs):
        self.name = name
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.jit_compile = jit_compile
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError("`ema_momentum` must be in the range [0, 1]. "
                                 f"Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer > 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("At most one of `clipnorm` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, global_clipnorm={global_clipnorm}.")
        self._built = False
        self._variables = []
        self._iterations = Variable(np.int64(0), name="iteration", trainable=False, dtype="int64")
        self._variables.append(self._iterations)
        self._exclude_from_weight_decay = []
        self._exclude_from_weight_decay_names = []
        kwargs.pop("is_legacy_optimizer", None)
        if kwargs.pop("lr", None):
            logger.warning("`lr` is deprecated in Keras optimizer, please use `learning_rate`.")
        for k in kwargs:
            if k in _LEGACY_KWARGS:
                raise ValueError(
                    f"{k} is deprecated in the new Keras optimizer, please check the docstring "
                    "for valid arguments, or use the legacy optimizer, e.g., "
                    f"tf.keras.optimizers.legacy.{type(self).__name__}.")
            raise TypeError(f"{k} is not a valid argument, kwargs should be empty for "
                            "`optimizer_experimental.Optimizer`.")

    # learning rate and step counter ---------------------------------
    def _build_learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._current_learning_rate = Variable(
                np.float32(learning_rate(self._iterations.numpy())), name="current_learning_rate",
                trainable=False, dtype="float32")
            return learning_rate
        return Variable(np.float32(np.asarray(learning_rate)), name="learning_rate",
                        trainable=False, dtype="float32")

    @property
    def learning_rate(self):
        """The learning-rate Variable; with a schedule, the rate of the latest step."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return self._current_learning_rate
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            if not hasattr(self, "_current_learning_rate"):
                self._current_learning_rate = Variable(
                    np.float32(learning_rate(self._iterations.numpy())),
                    name="current_learning_rate", trainable=False, dtype="float32")
            self._learning_rate = learning_rate
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not settable. "
                "If you need the learning rate to be settable, you should instantiate the "
                "optimizer with a float `learning_rate` argument.")
        if not isinstance(learning_rate, Tensor):
            learning_rate = np.float32(np.asarray(learning_rate))
        self._learning_rate.assign(learning_rate)

    lr = learning_rate  # alias, as tf.keras

    @property
    def iterations(self):
        """The number of steps ``apply_gradients`` has run (an int64 Variable)."""
        return self._iterations

    @iterations.setter
    def iterations(self, variable):
        if self._built:
            raise RuntimeError(
                "Cannot set `iterations` to a new Variable after the Optimizer weights have been "
                f"created. Here it is attempting to set `iterations` to {variable}.")
        self._variables[self._variables.index(self._iterations)] = variable
        self._iterations = variable

    @property
    def variables(self):
        return CallableList(self._variables)

    # building ---------------------------------------------------------
    def build(self, var_list):
        """Create the slots for ``var_list``. Subclasses call ``super().build(var_list)``,
        return if ``self._built``, set it, then create their slots."""
        if self._built:
            return
        self._index_dict = {self._var_key(v): i for i, v in enumerate(var_list)}
        if self.use_ema:
            self._model_variables_moving_average = [
                self.add_variable_from_reference(v, "average", initial_value=np.array(v.numpy()))
                for v in var_list]

    @staticmethod
    def _var_key(variable):
        return getattr(variable, "key", id(variable))

    def add_variable(self, shape, dtype=None, initializer="zeros", name=None):
        initializer = initializers.get(initializer)
        value = initializer(tuple(shape or ()), dtype or "float32")
        variable = Variable(np.asarray(value), name=f"{self.name}/{name or 'Variable'}",
                            trainable=False, dtype=dtype or "float32")
        self._variables.append(variable)
        return variable

    def add_variable_from_reference(self, model_variable, variable_name, shape=None,
                                    initial_value=None):
        """A slot named ``{optimizer}/{variable_name}/{model variable path}``, zeros of the
        model variable's shape (or ``shape``) unless ``initial_value`` is given."""
        dtype = model_variable.dtype
        if initial_value is None:
            initial_value = np.zeros(model_variable.shape if shape is None else shape, dtype)
        path = getattr(model_variable, "path", model_variable.name)
        variable = Variable(np.asarray(initial_value, dtype), trainable=False, dtype=dtype,
                            name=f"{self.name}/{variable_name}/{path}")
        self._variables.append(variable)
        return variable

    def _slot(self, slots, variable):
        return slots[self._index_dict[self._var_key(variable)]]

    # updating ---------------------------------------------------------
    def update_step(self, gradient, variable):
        raise NotImplementedError

    def _lr(self, variable):
        return ops.cast(self.learning_rate, variable.dtype)

    def _step(self, variable, offset=1):
        return ops.cast(ops.add(self._iterations, offset), variable.dtype)

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Apply ``(gradient, variable)`` pairs (``None`` gradients are skipped), then
        increment ``iterations``. Returns the ``iterations`` Variable."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            self._current_learning_rate.assign(self._learning_rate(self._iterations))
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self._iterations
        self.build([v for _, v in grads_and_vars])
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError(f"No gradients provided for any variable: "
                             f"{[v.name for _, v in grads_and_vars]}.")
        if len(pairs) < len(grads_and_vars):
            logger.warning("Gradients do not exist for variables %s when minimizing the loss.",
                            [v.name for g, v in grads_and_vars if g is None])
        variables = [v for _, v in pairs]
        grads = [g if isinstance(g, Tensor) else np.asarray(g) for g, _ in pairs]
        grads = [ops.cast(g, v.dtype) for g, v in zip(grads, variables)]
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables)
        self._apply_updates(grads, variables)
        if self.use_ema:
            self._update_model_variables_moving_average(variables)
        self._iterations.assign_add(1)
        for v in variables:
            if getattr(v, "constraint", None) is not None:
                v.assign(v.constraint(v))
        return self._iterations

    def _apply_updates(self, grads, variables):
        for g, v in zip(grads, variables):
            if self._var_key(v) not in self._index_dict:
                raise KeyError(
                    f"The optimizer cannot recognize variable {v.name}. This usually means you "
                    "are trying to call the optimizer to update different parts of the model "
                    "separately. Please call `optimizer.build(variables)` with the full list of "
                    "trainable variables before the training loop.")
            self.update_step(g, v)

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        if self._built:
            raise ValueError("`exclude_from_weight_decay()` can only be configued before the "
                             "optimizer is built.")
        self._exclude_from_weight_decay = [self._var_key(v) for v in var_list or ()]
        self._exclude_from_weight_decay_names = var_names or []

    def _use_weight_decay(self, variable):
        if self._var_key(variable) in self._exclude_from_weight_decay:
            return False
        return not any(re.search(n, variable.name) for n in self._exclude_from_weight_decay_names)

    def _apply_weight_decay(self, variables):
        if not self.weight_decay:
            return
        for v in variables:
            if self._use_weight_decay(v):
                v.assign_sub(ops.multiply(ops.multiply(v, float(self.weight_decay)), self._lr(v)))

    def _update_model_variables_moving_average(self, variables):
        m = float(self.ema_momentum)
        averages = [self._slot(self._model_variables_moving_average, v) for v in variables]
        for v, average in zip(variables, averages):
            average.assign(ops.add(ops.multiply(m, average), ops.multiply(1.0 - m, v)))
        if self.ema_overwrite_frequency:
            due = ops.equal(ops.mod(ops.add(self._iterations, 1), self.ema_overwrite_frequency), 0)
            for v, average in zip(variables, averages):
                v.assign(ops.where(due, average, v))

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, set each variable to its moving average."""
        if self.use_ema:
            for v in var_list:
                v.assign(self._slot(self._model_variables_moving_average, v).numpy())

    def set_weights(self, weights):
        if not self._built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. "
                "Please call `optimizer.build(trainable_variables)` to create the optimizer "
                "weights before calling `set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            weight = np.asarray(weight)
            if tuple(variable.shape) != weight.shape:
                raise ValueError(f"Optimizer variable {variable.name} has shape "
                                 f"{tuple(variable.shape)} not compatible with provided weight "
                                 f"shape {weight.shape}.")
            variable.assign(weight)

    def get_weights(self):
        return [np.array(v.numpy()) for v in self._variables]

    # config ----------------------------------------------------------
    def _serialize_hyperparameter(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            return schedules.serialize(value)
        if isinstance(value, Variable):
            return float(value.numpy())
        return value

    def get_config(self):
        return {"name": self.name, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "jit_compile": self.jit_compile, "is_legacy_optimizer": False}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<gk.optimizers.{type(self).__name__} name={self.name!r}>"


def clip_by_norm(t, clip_norm):
    """``t * clip_norm / max(||t||_2, clip_norm)``, as ``tf.clip_by_norm``."""
    l2sum = ops.sum(ops.multiply(t, t))
    positive = ops.greater(l2sum, 0.0)
    l2norm = ops.where(positive, ops.sqrt(ops.where(positive, l2sum, 1.0)), l2sum)
    return ops.divide(ops.multiply(t, float(clip_norm)), ops.maximum(l2norm, float(clip_norm)))


def clip_by_global_norm(t_list, clip_norm):
    """Scale all of ``t_list`` by ``clip_norm / max(global_norm, clip_norm)``, as
    ``tf.clip_by_global_norm`` (NaN everywhere when the norm is not finite)."""
    squares = [ops.cast(ops.sum(ops.multiply(t, t)), "float32") for t in t_list]
    total = squares[0]
    for s in squares[1:]:
        total = ops.add(total, s)
    norm = ops.sqrt(total)
    scale = ops.add(ops.divide(float(clip_norm), ops.maximum(norm, float(clip_norm))),
                    ops.subtract(norm, norm))
    return [ops.multiply(t, ops.cast(scale, t.dtype)) for t in t_list]


# module-level API ----------------------------------------------------
def serialize(optimizer):
    return serialization.serialize(optimizer, "keras.optimizers")


def _from_legacy(config):
    """A legacy (pre-2.11) optimizer config: ``lr`` -> ``learning_rate``; ``decay`` becomes
    the InverseTimeDecay schedule it stands for."""
    config = {k: v for k, v in config.items() if k not in ("is_legacy_optimizer",
                                                           "gradient_aggregator",
                                                           "gradient_transformers")}
    if "lr" in config:
        config.setdefault("learning_rate", config.pop("lr"))
        config.pop("lr", None)
    decay = config.pop("decay", 0.0)
    if decay and not isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = schedules.serialize(schedules.InverseTimeDecay(
            config.get("learning_rate", 0.001), decay_steps=1, decay_rate=decay))
    return config


def deserialize(config, custom_objects=None, **kwargs):
    """Rebuild an optimizer from ``serialize``'s dict (or a legacy tf.keras config)."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    name = config.get("registered_name") or config["class_name"]
    cls = serialization.lookup("optimizer", name, custom_objects)
    if cls is None:
        builtin = {k.lower(): v for k, v in serialization._REGISTRY.get("optimizer", {}).items()}
        cls = builtin.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {config['class_name']!r}. Please ensure it is "
                         "registered with gk.utils.register_keras_serializable or passed in "
                         "custom_objects.")
    inner = dict(config.get("config") or {})
    if inner and inner.get("is_legacy_optimizer", True):
        inner = _from_legacy(inner)
    return cls.from_config(inner, custom_objects=custom_objects) \
        if _accepts_custom_objects(cls) else cls.from_config(inner)


def _accepts_custom_objects(cls):
    import inspect
    try:
        return "custom_objects" in inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        return False


def get(identifier, **kwargs):
    """An optimizer from an instance, a name (``"adam"``, ``"RMSprop"``...) or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
