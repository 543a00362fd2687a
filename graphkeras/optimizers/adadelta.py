"""Adadelta, as ``tf.keras.optimizers.Adadelta`` (2.11+)."""
from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class Adadelta(Optimizer):
    """``E[g^2] = rho E[g^2] + (1 - rho) g^2``;
    ``d = -sqrt(E[d^2] + eps) / sqrt(E[g^2] + eps) * g``;
    ``E[d^2] = rho E[d^2] + (1 - rho) d^2``; ``w += lr * d``."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, jit_compile=True,
                 name="Adadelta", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._accumulated_grads, self._accumulated_delta_vars = [], []
        for v in var_list:
            self._accumulated_grads.append(self.add_variable_from_reference(v, "accumulated_grad"))
            self._accumulated_delta_vars.append(
                self.add_variable_from_reference(v, "accumulated_delta_var"))

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        rho, epsilon = float(self.rho), float(self.epsilon)
        accumulated_grad = self._slot(self._accumulated_grads, variable)
        accumulated_delta_var = self._slot(self._accumulated_delta_vars, variable)

        def rms(x):
            return ops.sqrt(ops.add(x, epsilon))

        accumulated_grad.assign(ops.add(ops.multiply(rho, accumulated_grad),
                                        ops.multiply(1.0 - rho, ops.square(gradient))))
        delta_var = ops.divide(ops.multiply(ops.negative(rms(accumulated_delta_var)), gradient),
                               rms(accumulated_grad))
        accumulated_delta_var.assign(ops.add(ops.multiply(rho, accumulated_delta_var),
                                             ops.multiply(1.0 - rho, ops.square(delta_var))))
        variable.assign_add(ops.multiply(lr, delta_var))

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "rho": self.rho, "epsilon": self.epsilon})
        return config
