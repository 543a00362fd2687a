"""Weight regularizers: penalties added to ``layer.losses``."""
from __future__ import annotations

import numpy as np

from graphkeras import serialization
from graphkeras.compiler import ops


class Regularizer:
    def __call__(self, x):
        return np.float32(0.0)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@serialization.register("regularizer", "L1L2", "l1_l2")
class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = np.float32(0.0)
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.abs(x)), np.float32(self.l1)))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.square(x)), np.float32(self.l2)))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@serialization.register("regularizer", "L1", "l1")
class L1(Regularizer):
    def __init__(self, l1=0.01, **kwargs):
        self.l1 = float(kwargs.pop("l", l1))

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.abs(x)), np.float32(self.l1))

    def get_config(self):
        return {"l1": self.l1}


@serialization.register("regularizer", "L2", "l2")
class L2(Regularizer):
    def __init__(self, l2=0.01, **kwargs):
        self.l2 = float(kwargs.pop("l", l2))

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.square(x)), np.float32(self.l2))

    def get_config(self):
        return {"l2": self.l2}


@serialization.register("regularizer", "OrthogonalRegularizer", "orthogonal_regularizer")
class OrthogonalRegularizer(Regularizer):
    def __init__(self, factor=0.01, mode="rows"):
        self.factor, self.mode = float(factor), mode

    def __call__(self, x):
        w = x if self.mode == "rows" else ops.transpose(x)
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(w), axis=1, keepdims=True), 1e-12))
        w = ops.divide(w, norm)
        product = ops.matmul(w, ops.transpose(w))
        n = w.shape[0]
        off = ops.multiply(product, np.float32(1.0) - np.eye(n, dtype=np.float32))
        return ops.multiply(ops.divide(ops.sum(ops.abs(off)), np.float32(n * (n - 1) / 2)),
                            np.float32(self.factor))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer) or (callable(identifier) and not isinstance(identifier, (str, dict))):
        return identifier
    return serialization.deserialize("regularizer", identifier, what="regularizer")


def serialize(regularizer):
    return serialization.serialize(regularizer, "keras.regularizers")


def deserialize(config, custom_objects=None):
    return serialization.deserialize("regularizer", config, custom_objects, what="regularizer")
