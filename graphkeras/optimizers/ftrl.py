"""FTRL-Proximal, as ``tf.keras.optimizers.Ftrl`` (2.11+)."""
import numpy as np

from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class Ftrl(Optimizer):
    """Follow The Regularized Leader, with L1, L2 and L2-shrinkage regularization and
    ``beta`` (added to L2 as ``beta / (2 lr)``)."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, jit_compile=True, name="Ftrl", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        for arg, value, sign in (
                ("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
                ("learning_rate_power", -learning_rate_power, "negative or zero"),
                ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
                ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                 "positive or zero")):
            if value < 0.0:
                shown = learning_rate_power if arg == "learning_rate_power" else value
                raise ValueError(f"`{arg}` needs to be {sign}. Received: {arg}={shown}.")
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._accumulators, self._linears = [], []
        for v in var_list:
            self._accumulators.append(self.add_variable_from_reference(
                v, "accumulator",
                initial_value=np.full(v.shape, self.initial_accumulator_value, v.dtype)))
            self._linears.append(self.add_variable_from_reference(v, "linear"))

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        accum = self._slot(self._accumulators, variable)
        linear = self._slot(self._linears, variable)
        power = -float(self.learning_rate_power)
        l1 = float(self.l1_regularization_strength)
        l2 = ops.add(float(self.l2_regularization_strength),
                     ops.divide(float(self.beta), ops.multiply(2.0, lr)))
        grad_to_use = ops.add(gradient, ops.multiply(
            2.0 * float(self.l2_shrinkage_regularization_strength), variable))
        new_accum = ops.add(accum, ops.square(gradient))
        sigma = ops.divide(ops.subtract(ops.power(new_accum, power), ops.power(accum, power)), lr)
        linear.assign_add(ops.subtract(grad_to_use, ops.multiply(sigma, variable)))
        quadratic = ops.add(ops.divide(ops.power(new_accum, power), lr), ops.multiply(2.0, l2))
        linear_clipped = ops.clip(linear, -l1, l1)
        variable.assign(ops.divide(ops.subtract(linear_clipped, linear), quadratic))
        accum.assign(new_accum)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta})
        return config
