"""Adam, as ``tf.keras.optimizers.Adam`` (2.11+), with the AMSGrad variant."""
from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class Adam(Optimizer):
    """``m += (g - m)(1 - b1)``; ``v += (g^2 - v)(1 - b2)``;
    ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (AMSGrad: ``max`` of all v)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 adaptive_epsilon=False, amsgrad=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, jit_compile=True, name="Adam", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.adaptive_epsilon = adaptive_epsilon
        self.amsgrad = amsgrad

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._momentums, self._velocities = [], []
        for v in var_list:
            self._momentums.append(self.add_variable_from_reference(v, "m"))
            self._velocities.append(self.add_variable_from_reference(v, "v"))
        self._velocity_hats = [self.add_variable_from_reference(v, "vhat") for v in var_list] \
            if self.amsgrad else []

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        local_step = self._step(variable)
        beta_1, beta_2 = float(self.beta_1), float(self.beta_2)
        beta_1_power = ops.power(beta_1, local_step)
        beta_2_power = ops.power(beta_2, local_step)
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        alpha = ops.divide(ops.multiply(lr, ops.sqrt(ops.subtract(1.0, beta_2_power))),
                           ops.subtract(1.0, beta_1_power))
        epsilon = float(self.epsilon)
        if getattr(self, "adaptive_epsilon", False):
            epsilon = ops.multiply(epsilon, ops.sqrt(ops.subtract(1.0, beta_2_power)))
        m.assign_add(ops.multiply(ops.subtract(gradient, m), 1.0 - beta_1))
        v.assign_add(ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - beta_2))
        if self.amsgrad:
            v_hat = self._slot(self._velocity_hats, variable)
            v_hat.assign(ops.maximum(v_hat, v))
            v = v_hat
        variable.assign_sub(ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), epsilon)))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config
