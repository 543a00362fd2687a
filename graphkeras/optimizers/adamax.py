"""Adamax, as ``tf.keras.optimizers.Adamax`` (2.11+): Adam with the infinity norm."""
from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class Adamax(Optimizer):
    """``m += (g - m)(1 - b1)``; ``u = max(b2 u, |g|)``; ``w -= lr m / ((1 - b1^t)(u + eps))``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 jit_compile=True, name="Adamax", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._m, self._u = [], []
        for v in var_list:
            self._m.append(self.add_variable_from_reference(v, "m"))
            self._u.append(self.add_variable_from_reference(v, "u"))

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        beta_1_power = ops.power(float(self.beta_1), self._step(variable))
        m = self._slot(self._m, variable)
        u = self._slot(self._u, variable)
        m.assign_add(ops.multiply(ops.subtract(gradient, m), 1.0 - float(self.beta_1)))
        u.assign(ops.maximum(ops.multiply(float(self.beta_2), u), ops.abs(gradient)))
        denominator = ops.multiply(ops.subtract(1.0, beta_1_power), ops.add(u, float(self.epsilon)))
        variable.assign_sub(ops.divide(ops.multiply(lr, m), denominator))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
