"""Weight initializers with tf.keras 2.x names, defaults and configs.

They draw from numpy: a ``seed`` gives a private generator, otherwise the
global one that ``gk.utils.set_random_seed`` seeds.
"""
from __future__ import annotations

import math

import numpy as np

from graphkeras import backend, serialization


def _register(cls):
    snake = backend.snake_case(cls.__name__)
    return serialization.register("initializer", cls.__name__, snake)(cls)


class Initializer:
    def __call__(self, shape, dtype=None):
        raise NotImplementedError  # abstract: every concrete initializer defines it

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(**config)

    def _rng(self):
        seed = getattr(self, "seed", None)
        if seed is None:
            return backend.rng()
        return np.random.default_rng(seed)


def _fans(shape):
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, mean, stddev):
    """Normal samples redrawn until within two standard deviations (tf's rule)."""
    out = rng.normal(size=shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(size=int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + stddev * out


@_register
class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=dtype or "float32")


@_register
class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=dtype or "float32")


@_register
class Constant(Initializer):
    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


@_register
class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, size=shape).astype(dtype or "float32")

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@_register
class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        dtype = dtype or "float32"
        if np.issubdtype(np.dtype(dtype), np.integer):
            return self._rng().integers(self.minval, self.maxval, size=shape).astype(dtype)
        return self._rng().uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@_register
class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(dtype or "float32")

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@_register
class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode!r}; expected fan_in, fan_out or fan_avg.")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"Invalid `distribution` argument: {distribution!r}.")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978  # std of a unit normal cut at ±2
            out = _truncated_normal(rng, shape, 0.0, stddev)
        elif self.distribution == "untruncated_normal":
            out = rng.normal(0.0, math.sqrt(scale), size=shape)
        else:
            limit = math.sqrt(3.0 * scale)
            out = rng.uniform(-limit, limit, size=shape)
        return np.asarray(out, dtype=dtype or "float32")

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _scaling(name, scale, mode, distribution):
    class _Init(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    _Init.__name__ = _Init.__qualname__ = name
    return _register(_Init)


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform")


@_register
class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        flat = self._rng().normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype or "float32")

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@_register
class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape}.")
        return (self.gain * np.eye(*shape)).astype(dtype or "float32")

    def get_config(self):
        return {"gain": self.gain}


# tf.keras' lower-case aliases
zeros, ones, constant = Zeros, Ones, Constant
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
orthogonal, identity = Orthogonal, Identity
serialization.register("initializer", "uniform")(RandomUniform)
serialization.register("initializer", "normal")(RandomNormal)


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return serialization.deserialize("initializer", identifier, what="initializer")
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer):
    return serialization.serialize(initializer, "keras.initializers")


def deserialize(config, custom_objects=None):
    return serialization.deserialize("initializer", config, custom_objects, what="initializer")
