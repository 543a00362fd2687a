"""Batches for ``fit`` and ``evaluate``.

Who owns what (after Keras 3's epoch iterator): this module owns the data
types (arrays, generators, ``gk.utils.Sequence``), ``batch_size``,
``shuffle``, ``class_weight``, ``sample_weight``, ``validation_split`` and
``steps_per_epoch``; the trainer owns epochs, callbacks, validation and
``steps_per_execution``. A batch is ``(x_arrays, y_arrays, sw_arrays)``, each
a flat list (x in model-input order, y and sample weights in output order).
"""
from __future__ import annotations

import math

import numpy as np

from graphkeras import backend
from graphkeras.engine import data_adapter
from graphkeras.engine.steps import flat_targets


def split_validation(x, y, sample_weight, validation_split):
    """The last ``validation_split`` fraction of the samples, before any shuffling."""
    if not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be in [0, 1). Received: {validation_split}")
    if data_adapter.is_generator_like(x):
        raise ValueError("`validation_split` is only supported for arrays, not for generators or "
                         "`gk.utils.Sequence` objects. Pass `validation_data` instead.")
    arrays = [a for a in _leaves(x) + _leaves(y) + _leaves(sample_weight)]
    n = data_adapter.num_samples([np.asarray(a) for a in arrays])
    split = int(n * (1.0 - validation_split))
    if split == 0 or split == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split "
                         f"it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, or a "
                         "different value for the `validation_split` argument.")

    def cut(s, lo, hi):
        if s is None:
            return None
        if isinstance(s, dict):
            return {k: cut(v, lo, hi) for k, v in s.items()}
        if isinstance(s, (list, tuple)):
            return type(s)(cut(v, lo, hi) for v in s)
        return data_adapter.to_array(s)[lo:hi]

    return (cut(x, 0, split), cut(y, 0, split), cut(sample_weight, 0, split)), \
        (cut(x, split, n), cut(y, split, n), cut(sample_weight, split, n))


def _leaves(s):
    if s is None:
        return []
    if isinstance(s, dict):
        return [v for k in s for v in _leaves(s[k])]
    if isinstance(s, (list, tuple)):
        return [v for item in s for v in _leaves(item)]
    return [s]


def cardinality(x, y, sample_weight=()):
    """The number of samples; when the arrays disagree, tf.keras' error naming their sizes."""
    sizes = {name: [a.shape[0] if a.ndim else 1 for a in arrays]
             for name, arrays in (("x", x), ("y", y), ("sample_weight", sample_weight))}
    distinct = {n for group in sizes.values() for n in group}
    if len(distinct) > 1:
        lines = [f"  {name} sizes: {', '.join(map(str, group))}"
                 for name, group in sizes.items() if group]
        raise ValueError("Data cardinality is ambiguous:\n" + "\n".join(lines) +
                         "\nMake sure all arrays contain the same number of samples.")
    return distinct.pop() if distinct else 0


def class_weights_to_sample_weights(y, class_weight):
    """Per-sample weights from ``{class: weight}`` (labels as ints or one-hot rows)."""
    y = np.asarray(y)
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] > 1):
        labels = np.argmax(y.reshape(len(y), -1), axis=-1)
    else:
        labels = y.reshape(len(y)).astype(np.int64) if y.ndim else y
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"`class_weight` must contain all classes in the data. The classes "
                         f"{set(missing)} exist in the data but not in `class_weight`.")
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.asarray([table[int(c)] for c in labels], dtype=np.float32)


class DataHandler:
    """Epochs of batches over one dataset, and how many steps each has."""

    def __init__(self, model, x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None,
                 shuffle=False, class_weight=None):
        self.model = model
        self.generator = data_adapter.is_generator_like(x)
        if self.generator:
            if y is not None:
                raise ValueError("`y` argument is not supported when using a generator or a "
                                 "`gk.utils.Sequence` as input: it must yield (x, y) itself.")
            if sample_weight is not None:
                raise ValueError("`sample_weight` argument is not supported when using a "
                                 "generator as input: yield (x, y, sample_weight) instead.")
            self.data = x
            self.class_weight = class_weight
            if steps_per_epoch is None:
                if not hasattr(x, "__len__"):
                    raise ValueError("When using a generator as input, `steps_per_epoch` (or "
                                     "`steps`) must be given: the generator has no length.")
                steps_per_epoch = len(x)
            self.steps = steps_per_epoch
            self._iterator = None
            self._skip = self._discard = 0
            return
        if x is None:
            raise ValueError("Unexpected value for `x`: None. Pass the training data.")
        batch_size = 32 if batch_size is None else batch_size
        self.batch_size = batch_size
        names = model._input_names_for_data(x)
        self.x = data_adapter.flatten_inputs(x, names)
        ys, self.y_structure = flat_targets(y, model._output_names_for_targets(y))
        self.y = [data_adapter.to_array(a, "y") for a in ys]
        n = cardinality(self.x, self.y)
        if n == 0:
            raise ValueError("Expected input data to be non-empty: `x` has 0 samples.")
        self.sw = self._sample_weights(sample_weight, class_weight, n)
        cardinality(self.x, self.y, self.sw)
        self.num_samples = n
        self.shuffle = shuffle
        full = math.ceil(n / batch_size)
        self.steps = full if steps_per_epoch is None else steps_per_epoch
        self._cursor = 0  # for steps_per_epoch that does not divide the data
        self._skip = 0  # batches of the next epoch already done (a resumed fit)

    def resume(self, steps_done, step_in_epoch):
        """Put the data where an uninterrupted fit has it after ``steps_done`` batches,
        the last ``step_in_epoch`` of them in the epoch that comes next: that epoch then
        draws its shuffling as usual (the random generator advances as it did) and
        starts after those batches."""
        self._skip = step_in_epoch
        before = steps_done - step_in_epoch  # the batches of the earlier epochs
        if not self.generator:
            self._cursor = before % math.ceil(self.num_samples / self.batch_size) * \
                self.batch_size
        elif not (hasattr(self.data, "__getitem__") and hasattr(self.data, "__len__")):
            self._discard = before  # an iterator goes on across epochs

    def _sample_weights(self, sample_weight, class_weight, n):
        sws = []
        if sample_weight is not None:
            if isinstance(sample_weight, dict):
                sws = [sample_weight.get(name) for name in self.model.output_names]
            elif isinstance(sample_weight, (list, tuple)):
                sws = list(sample_weight)
            else:
                sws = [sample_weight]
            sws = [np.ones(n, np.float32) if s is None else np.asarray(s, np.float32) for s in sws]
        if class_weight is not None:
            if len(self.y) != 1:
                raise ValueError("`class_weight` is only supported for models with a single output.")
            cw = class_weights_to_sample_weights(self.y[0], class_weight)
            sws = [cw if not sws else sws[0] * cw.reshape((-1,) + (1,) * (sws[0].ndim - 1))]
        return sws

    def epoch(self):
        """Batches of one epoch (``steps`` of them)."""
        if self.generator:
            yield from self._generator_epoch()
            return
        n, bs = self.num_samples, self.batch_size
        skip, self._skip = self._skip, 0
        order = chunks = None
        if self.shuffle is True or self.shuffle == "True":
            order = backend.rng().permutation(n)
        elif self.shuffle == "batch":
            # whole batches (the partial one included) in a random order, as tf.keras
            starts = backend.rng().permutation(math.ceil(n / bs)) * bs
            chunks = [np.arange(s, min(s + bs, n)) for s in starts]
        arrays = self.x + self.y + self.sw
        nx, ny = len(self.x), len(self.y)
        for i in range(self.steps):
            lo = self._cursor
            hi = min(lo + bs, n)
            if i < skip:
                self._cursor = 0 if hi >= n else hi
                continue
            if chunks is not None:
                batch = [a[chunks[lo // bs]] for a in arrays]
            elif order is None:
                batch = [a[lo:hi] for a in arrays]
            else:
                index = order[lo:hi]
                batch = [a[index] for a in arrays]
            self._cursor = 0 if hi >= n else hi
            yield batch[:nx], batch[nx:nx + ny], batch[nx + ny:]

    def epoch_groups(self, group: int):
        """``(n, batch)`` pairs for ``steps_per_execution=group``: ``n == group`` full
        batches back to back in one set of arrays (one folded call), or ``n == 1``
        for the leftovers (a partial batch, or the last batches of the epoch)."""
        if group <= 1:
            for batch in self.epoch():
                yield 1, batch
            return
        if not self.generator and self.shuffle is False and self.steps * self.batch_size <= \
                self.num_samples and self._cursor == 0 and not self._skip:
            # unshuffled arrays: a group is one contiguous slice, no copy
            bs, arrays = self.batch_size, self.x + self.y + self.sw
            nx, ny = len(self.x), len(self.y)
            full = self.steps - self.steps % group
            for start in range(0, full, group):
                lo, hi = start * bs, (start + group) * bs
                batch = [a[lo:hi] for a in arrays]
                yield group, (batch[:nx], batch[nx:nx + ny], batch[nx + ny:])
            for step in range(full, self.steps):
                lo = step * bs
                batch = [a[lo:lo + bs] for a in arrays]
                yield 1, (batch[:nx], batch[nx:nx + ny], batch[nx + ny:])
            # a steps_per_epoch shorter than the data: the next epoch goes on from here
            self._cursor = self.steps * bs % self.num_samples
            return
        pending = []
        for batch in self.epoch():
            pending.append(batch)
            sizes = {len(b[0][0]) for b in pending}
            if len(sizes) > 1:  # a short batch: run what we have one by one
                for b in pending:
                    yield 1, b
                pending = []
            elif len(pending) == group:
                yield group, tuple([np.concatenate(parts) for parts in zip(*[b[k] for b in pending])]
                                   for k in range(3))
                pending = []
        for b in pending:
            yield 1, b

    def _generator_epoch(self):
        from graphkeras.engine.training import unpack_x_y_sample_weight
        source = self.data
        skip, self._skip = self._skip, 0
        if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
            items = (source[i % len(source)] for i in range(skip, self.steps))
        else:
            if self._iterator is None:
                self._iterator = iter(source)
            for _ in range(self._discard + skip):  # a resumed fit: the batches done
                next(self._iterator, None)
            self._discard = 0
            items = (next(self._iterator, None) for _ in range(self.steps - skip))
        model = self.model
        for item in items:
            if item is None:
                return
            x, y, sw = unpack_x_y_sample_weight(item)
            xs = data_adapter.flatten_inputs(x, model._input_names_for_data(x))
            ys, self.y_structure = flat_targets(y, model._output_names_for_targets(y))
            ys = [data_adapter.to_array(a, "y") for a in ys]
            n = cardinality(xs, ys)
            sws = self._generator_weights(sw, ys, n)
            yield xs, ys, sws
        if hasattr(source, "on_epoch_end"):
            source.on_epoch_end()

    def _generator_weights(self, sw, ys, n):
        self.y = ys
        return self._sample_weights(sw, self.class_weight, n)
