"""Learning-rate schedules, as ``tf.keras.optimizers.schedules``.

A schedule maps the optimizer's step counter to a learning rate. ``__call__`` is
written with graphkeras ops, so it runs eagerly on an int (or numpy value) and
traces into a compiled training step when given the symbolic ``iterations``.
"""
from __future__ import annotations

import math

from graphkeras import serialization
from graphkeras.compiler import ops

_MODULE = "keras.optimizers.schedules"


def _register(cls):
    return serialization.register("schedule", cls.__name__)(cls)


def _float_step(step):
    return ops.cast(step, "float32")


class LearningRateSchedule:
    """Base class: subclasses define ``__call__(step)`` and ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _RateDecay(LearningRateSchedule):
    """The arguments and config of ExponentialDecay and InverseTimeDecay, which both
    decay by ``decay_rate`` per ``step / decay_steps`` (floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        p = ops.divide(_float_step(step), float(self.decay_steps))
        return ops.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


@_register
class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored if staircase)."""

    def __call__(self, step):
        p = self._progress(step)
        return ops.multiply(float(self.initial_learning_rate), ops.power(float(self.decay_rate), p))


@_register
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``."""

    def __init__(self, boundaries, values, name=None):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        if all(float(b).is_integer() for b in self.boundaries):
            step, bounds = ops.cast(step, "int64"), [int(b) for b in self.boundaries]
        else:
            step, bounds = _float_step(step), [float(b) for b in self.boundaries]
        out = ops.cast(float(self.values[-1]), "float32")
        for bound, value in zip(reversed(bounds), reversed(self.values[:-1])):
            out = ops.where(ops.less_equal(step, bound), float(value), out)
        return out

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


@_register
class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``; ``cycle`` restarts."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step = _float_step(step)
        decay_steps = ops.cast(float(self.decay_steps), "float32")
        if self.cycle:
            multiplier = ops.where(ops.equal(step, 0.0), 1.0,
                                   ops.ceil(ops.divide(step, decay_steps)))
            decay_steps = ops.multiply(decay_steps, multiplier)
        else:
            step = ops.minimum(step, decay_steps)
        p = ops.divide(step, decay_steps)
        initial, end = float(self.initial_learning_rate), float(self.end_learning_rate)
        return ops.add(ops.multiply(ops.subtract(initial, end),
                                    ops.power(ops.subtract(1.0, p), float(self.power))), end)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


@_register
class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``."""

    def __call__(self, step):
        denom = ops.add(1.0, ops.multiply(float(self.decay_rate), self._progress(step)))
        return ops.divide(float(self.initial_learning_rate), denom)


def _cosine(fraction, alpha, half_peak=0.5):
    """``(1 - alpha) * half_peak * (1 + cos(pi * fraction)) + alpha``."""
    cosine = ops.multiply(half_peak, ops.add(1.0, ops.cos(ops.multiply(math.pi, fraction))))
    return ops.add(ops.multiply(1.0 - alpha, cosine), alpha)


@_register
class CosineDecay(LearningRateSchedule):
    """Cosine decay to ``alpha * peak`` over ``decay_steps``, after an optional linear
    warmup from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None,
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = _float_step(step)
        initial, alpha = float(self.initial_learning_rate), float(self.alpha)
        if self.warmup_target is None:
            step = ops.minimum(step, float(self.decay_steps))
            return ops.multiply(_cosine(ops.divide(step, float(self.decay_steps)), alpha), initial)
        target, warmup = float(self.warmup_target), float(self.warmup_steps)
        step = ops.minimum(step, float(self.decay_steps) + warmup)
        # warmup_steps == 0 never takes the warmup branch; keep its division finite
        warm = ops.add(ops.multiply(target - initial, ops.divide(step, max(warmup, 1.0))), initial)
        decay_fraction = ops.divide(ops.subtract(step, warmup), float(self.decay_steps))
        decayed = ops.multiply(_cosine(decay_fraction, alpha), target)
        return ops.where(ops.less(step, warmup), warm, decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


@_register
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): period ``first_decay_steps``, each next period
    ``t_mul`` times longer and its peak ``m_mul`` times lower."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name=None):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = ops.divide(_float_step(step), float(self.first_decay_steps))
        t_mul = float(self._t_mul)
        if t_mul == 1.0:
            i_restart = ops.floor(fraction)
            fraction = ops.subtract(fraction, i_restart)
        else:
            i_restart = ops.floor(ops.divide(
                ops.log(ops.subtract(1.0, ops.multiply(fraction, 1.0 - t_mul))), math.log(t_mul)))
            t_pow = ops.power(t_mul, i_restart)
            sum_r = ops.divide(ops.subtract(1.0, t_pow), 1.0 - t_mul)
            fraction = ops.divide(ops.subtract(fraction, sum_r), t_pow)
        m_fac = ops.power(float(self._m_mul), i_restart)
        decayed = _cosine(fraction, float(self.alpha), ops.multiply(0.5, m_fac))
        return ops.multiply(float(self.initial_learning_rate), decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul,
                "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


def serialize(learning_rate_schedule):
    return serialization.serialize(learning_rate_schedule, _MODULE)


def deserialize(config, custom_objects=None):
    return serialization.deserialize("schedule", config, custom_objects,
                                     what="learning rate schedule")
