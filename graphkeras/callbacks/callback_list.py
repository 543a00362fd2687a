"""``CallbackList``: the container ``fit``/``evaluate``/``predict`` call hooks on."""
from __future__ import annotations

import numpy as np

from graphkeras.callbacks.logs import History, ProgbarLogger


def _flatten(items):
    out = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def _to_python(value):
    """Host values for callbacks: 0-d arrays and numpy scalars become Python
    numbers (as tf.keras' ``sync_to_numpy_or_python_type``), device values numpy."""
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_to_python(v) for v in value)
    if not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        return value.item()
    return value


class CallbackList:
    """Container for ``Callback`` instances: ``callback_list.on_epoch_end(...)``
    calls every callback's hook, in list order.

    Args:
        callbacks: list of ``Callback`` instances (nested lists are flattened).
        add_history: add a ``History`` callback unless the list has one.
        add_progbar: add a ``ProgbarLogger(count_mode="steps")`` unless the list
            has one.
        model: the model the callbacks are used with (``set_model``); the list's
            ``History`` becomes ``model.history``.
        **params: passed to every callback's ``set_params`` (``verbose``,
            ``epochs``, ``steps``).

    The fit loop calls, besides the hooks, ``_maybe_load_initial_counters``
    right after ``on_train_begin`` (see ``BackupAndRestore``), and may test
    ``_should_call_{train,test,predict}_batch_hooks`` to skip building batch logs
    that no callback reads.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        self.callbacks = _flatten(callbacks) if callbacks else []
        self._add_default_callbacks(add_history, add_progbar)
        self.model = None
        self.params = {}
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._refresh_batch_hook_flags()

    def _add_default_callbacks(self, add_history, add_progbar):
        self._progbar = None
        self._history = None
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger):
                self._progbar = cb
            elif isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger(count_mode="steps")
            self.callbacks.append(self._progbar)

    def _refresh_batch_hook_flags(self):
        self._should_call_train_batch_hooks = any(
            cb._implements_train_batch_hooks() for cb in self.callbacks)
        self._should_call_test_batch_hooks = any(
            cb._implements_test_batch_hooks() for cb in self.callbacks)
        self._should_call_predict_batch_hooks = any(
            cb._implements_predict_batch_hooks() for cb in self.callbacks)

    def _process_logs(self, logs):
        return {} if logs is None else _to_python(dict(logs))

    def append(self, callback):
        self.callbacks.append(callback)
        self._refresh_batch_hook_flags()

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)
        self._refresh_batch_hook_flags()

    def set_model(self, model):
        self.model = model
        if self._history:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)

    # fault tolerance ----------------------------------------------------
    def _maybe_load_initial_counters(self, steps_per_epoch, initial_epoch):
        """``(initial_epoch, initial_step)`` for the fit loop: from the backup of
        a ``BackupAndRestore`` in the list when it restored one, else
        ``(initial_epoch, 0)``. Call it right after ``on_train_begin``."""
        for callback in self.callbacks:
            loader = getattr(callback, "_maybe_load_initial_counters", None)
            if loader is not None and not isinstance(callback, CallbackList):
                return loader(steps_per_epoch, initial_epoch)
        return initial_epoch, 0

    # hooks --------------------------------------------------------------
    def _call_batch_hook(self, hook_name, batch, logs):
        logs = self._process_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook_name)(batch, logs)

    def _call_hook(self, hook_name, logs):
        logs = self._process_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook_name)(logs)

    def on_batch_begin(self, batch, logs=None):
        if self._should_call_train_batch_hooks:
            self._call_batch_hook("on_train_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        if self._should_call_train_batch_hooks:
            self._call_batch_hook("on_train_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        logs = self._process_logs(logs)
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = self._process_logs(logs)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        if self._should_call_train_batch_hooks:
            self._call_batch_hook("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._should_call_train_batch_hooks:
            self._call_batch_hook("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        if self._should_call_test_batch_hooks:
            self._call_batch_hook("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if self._should_call_test_batch_hooks:
            self._call_batch_hook("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        if self._should_call_predict_batch_hooks:
            self._call_batch_hook("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        if self._should_call_predict_batch_hooks:
            self._call_batch_hook("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call_hook("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call_hook("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call_hook("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call_hook("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call_hook("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call_hook("on_predict_end", logs)

