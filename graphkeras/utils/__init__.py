"""Utilities: seeding, one-hot labels, data sequences, serialization registration."""
from __future__ import annotations

import numpy as np

from graphkeras import backend
from graphkeras.serialization import custom_object_scope, register_keras_serializable  # noqa: F401
from graphkeras.utils.progbar import Progbar  # noqa: F401
from graphkeras.utils.tensor_spec import TensorSpec  # noqa: F401


def set_random_seed(seed):
    """Seed Python's, numpy's and graphkeras' generators (initializers, dropout, shuffling)."""
    import random
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed} "
                         f"(of type {type(seed)})")
    random.seed(seed)
    np.random.seed(seed)
    backend.set_seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32"):
    y = np.array(y, dtype="int")
    input_shape = y.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    y = y.ravel()
    if not num_classes:
        num_classes = int(np.max(y)) + 1
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out.reshape(input_shape + (num_classes,))


class Sequence:
    """Base for datasets indexed by batch: implement ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError  # abstract: subclasses return batch `index`

    def __len__(self):
        raise NotImplementedError  # abstract: subclasses return the number of batches

    def on_epoch_end(self):
        pass

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def get_file(*args, **kwargs):
    raise RuntimeError("graphkeras does not download files; pass a local path instead.")
