"""SGD, as ``tf.keras.optimizers.SGD`` (2.11+): plain, momentum or Nesterov momentum."""
from graphkeras.compiler import ops
from graphkeras.optimizers.optimizer import Optimizer, register_optimizer


@register_optimizer
class SGD(Optimizer):
    """``m = momentum * m - lr * g``; ``w += m`` (Nesterov: ``w += momentum * m - lr * g``)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, jit_compile=True, name="SGD",
                 **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov
        if isinstance(momentum, (int, float)) and (momentum < 0 or momentum > 1):
            raise ValueError("`momentum` must be between [0, 1].")

    def build(self, var_list):
        super().build(var_list)
        if self._built:
            return
        self._built = True
        # tf.keras creates the "m" slots even without momentum
        self.momentums = [self.add_variable_from_reference(v, "m") for v in var_list]

    def update_step(self, gradient, variable):
        lr = self._lr(variable)
        step = ops.multiply(ops.negative(gradient), lr)
        # as tf.keras, "m" holds the last step even without momentum
        m = self._slot(self.momentums, variable)
        if isinstance(self.momentum, (int, float)) and self.momentum == 0:
            m.assign(step)  # the same value, without reading m
        else:
            m.assign(ops.add(step, ops.multiply(m, float(self.momentum))))
        if self.nesterov:
            variable.assign_add(ops.add(step, ops.multiply(m, float(self.momentum))))
        else:
            variable.assign_add(m)

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "momentum": self.momentum, "nesterov": self.nesterov})
        return config
