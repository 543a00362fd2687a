"""Adagrad, as ``tf.keras.optimizers.Adagrad`` (2.11+)."""
import numpy as np

from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class Adagrad(Optimizer):
    """``acc += g^2``; ``w -= lr * g / sqrt(acc + eps)``; ``acc`` starts at
    ``initial_accumulator_value``."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 jit_compile=True, name="Adagrad", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._accumulators = [self.add_variable_from_reference(
            v, "accumulator", initial_value=np.full(v.shape, self.initial_accumulator_value,
                                                    v.dtype)) for v in var_list]

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        accumulator = self._slot(self._accumulators, variable)
        accumulator.assign_add(ops.multiply(gradient, gradient))
        variable.assign_sub(ops.divide(ops.multiply(lr, gradient),
                                       ops.sqrt(ops.add(accumulator, float(self.epsilon)))))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config
