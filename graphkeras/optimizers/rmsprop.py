"""RMSprop, as ``tf.keras.optimizers.RMSprop`` (2.11+; epsilon inside the square root)."""
from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class RMSprop(Optimizer):
    """``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / sqrt(v + eps)`` (centered:
    ``v - mean_g^2`` under the root; with momentum the step goes through a velocity)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=100, jit_compile=True,
                 name="RMSprop", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        self._velocities = [self.add_variable_from_reference(v, "velocity") for v in var_list]
        self._momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list] \
            if self.momentum > 0 else []
        self._average_gradients = [self.add_variable_from_reference(v, "average_gradient")
                                   for v in var_list] if self.centered else []

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        rho = float(self.rho)
        velocity = self._slot(self._velocities, variable)
        velocity.assign(ops.add(ops.multiply(rho, velocity),
                                ops.multiply(1.0 - rho, ops.square(gradient))))
        if self.centered:
            average_grad = self._slot(self._average_gradients, variable)
            average_grad.assign(ops.add(ops.multiply(rho, average_grad),
                                        ops.multiply(1.0 - rho, gradient)))
            denominator = ops.add(ops.subtract(velocity, ops.square(average_grad)),
                                  float(self.epsilon))
        else:
            denominator = ops.add(velocity, float(self.epsilon))
        increment = ops.multiply(ops.multiply(gradient, lr), ops.rsqrt(denominator))
        if self.momentum > 0:
            momentum = self._slot(self._momentums, variable)
            momentum.assign(ops.add(ops.multiply(float(self.momentum), momentum), increment))
            variable.assign_sub(momentum)
        else:
            variable.assign_sub(increment)

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
