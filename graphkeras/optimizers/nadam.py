"""Nadam, as ``tf.keras.optimizers.Nadam`` (2.11+): Adam with Nesterov momentum and the
momentum schedule ``u_t = b1 (1 - 0.5 * 0.96^t)``."""
import numpy as np

from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer
from graphkeras.variables import Variable


@register_optimizer
class Nadam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 jit_compile=True, name="Nadam", **kwargs):
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
        # the product of the u_t so far; as in tf.keras it is not in `variables`
        dtype = var_list[0].dtype if var_list else "float32"
        self._u_product = Variable(np.ones((), dtype), name=f"{self.name}/u_product",
                                   trainable=False, dtype=dtype)
        self._momentums, self._velocities = [], []
        for v in var_list:
            self._momentums.append(self.add_variable_from_reference(v, "m"))
            self._velocities.append(self.add_variable_from_reference(v, "v"))

    def _u(self, dtype, offset):
        step = ops.cast(ops.add(self._iterations, offset), dtype)
        return ops.multiply(float(self.beta_1), ops.subtract(1.0, ops.multiply(
            0.5, ops.power(ops.cast(0.96, dtype), step))))

    def _apply_updates(self, grads, variables):
        # u_product advances once per step, before the first variable's update
        u_t = self._u(self._u_product.dtype, 1)
        self._u_product.assign(ops.multiply(self._u_product, u_t))
        super()._apply_updates(grads, variables)

    def update_step(self, gradient, variable):
        dtype = variable.dtype
        lr = self._lr(variable)
        u_t, u_t_1 = self._u(dtype, 1), self._u(dtype, 2)
        u_product_t = ops.cast(self._u_product, dtype)
        u_product_t_1 = ops.multiply(u_product_t, u_t_1)
        beta_2_power = ops.power(float(self.beta_2), self._step(variable))
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        # tf.keras' Nadam takes 1 - beta in the variable's dtype (Adam: in Python floats)
        beta_1, beta_2 = ops.cast(float(self.beta_1), dtype), ops.cast(float(self.beta_2), dtype)
        m.assign_add(ops.multiply(ops.subtract(gradient, m), ops.subtract(1.0, beta_1)))
        v.assign_add(ops.multiply(ops.subtract(ops.square(gradient), v), ops.subtract(1.0, beta_2)))
        m_hat = ops.add(
            ops.divide(ops.multiply(u_t_1, m), ops.subtract(1.0, u_product_t_1)),
            ops.divide(ops.multiply(ops.subtract(1.0, u_t), gradient),
                       ops.subtract(1.0, u_product_t)))
        v_hat = ops.divide(v, ops.subtract(1.0, beta_2_power))
        variable.assign_sub(ops.divide(ops.multiply(m_hat, lr),
                                       ops.add(ops.sqrt(v_hat), float(self.epsilon))))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
