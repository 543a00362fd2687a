"""Data of a data-parallel step: arrays put once in the Ray object store, and
batches as each worker's shard (row indices of a stored dataset, or arrays the
driver read from a generator)."""
from __future__ import annotations

import itertools
import os

import numpy as np

_tokens = itertools.count()


class Dataset:
    """Arrays in the Ray object store, put once; workers keep them by ``token``."""

    def __init__(self, strategy, arrays):
        self.strategy = strategy
        self.token = f"d{next(_tokens)}-{os.getpid()}"
        self.arrays = arrays
        self.ref = strategy._ray.put(list(arrays))

    def close(self):
        strategy = self.strategy
        for r, a in enumerate(strategy._actors):
            if r < len(strategy._data) and self.token in strategy._data[r]:
                strategy._data[r].discard(self.token)
                try:
                    a.drop_data.remote(self.token)
                except Exception:  # noqa: BLE001 - a dead worker holds nothing
                    pass
        self.ref = None


def _split(n, k):
    """Sizes and offsets of ``k`` shards of ``n`` samples (the first ``n % k`` one larger)."""
    sizes = [n // k + (1 if r < n % k else 0) for r in range(k)]
    offsets = np.cumsum([0] + sizes[:-1]).tolist()
    return list(zip(offsets, sizes))


class IndexBatch:
    """Rows ``index`` of a stored dataset."""

    def __init__(self, dataset, index):
        self.dataset = dataset
        self.index = np.asarray(index)
        self.n = len(self.index)
        lo = int(self.index[0]) if self.n else 0
        self.contiguous = self.n == 0 or bool(np.all(np.diff(self.index) == 1))
        self.lo = lo

    def shards(self, k):
        out = []
        for offset, size in _split(self.n, k):
            if self.contiguous:
                payload = ("slice", self.dataset.token, self.lo + offset, self.lo + offset + size)
            else:
                payload = ("take", self.dataset.token, self.index[offset:offset + size])
            out.append((size, payload))
        return out


class ArrayBatch:
    """A batch the driver read (from a generator), scattered by value."""

    dataset = None

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.n = int(self.arrays[0].shape[0]) if self.arrays else 0

    def shards(self, k):
        return [(size, ("arrays", [a[offset:offset + size] for a in self.arrays]))
                for offset, size in _split(self.n, k)]
