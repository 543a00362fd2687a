"""``Callback``: the base class, with tf.keras 2.x's hooks and attributes.

``model.fit`` calls (through a ``CallbackList``), in this order::

    set_model(model); set_params({"verbose": v, "epochs": e, "steps": s})
    on_train_begin({})
    for each epoch:
        on_epoch_begin(epoch, {})
        for each batch:
            on_train_batch_begin(batch, {})       # default: calls on_batch_begin
            on_train_batch_end(batch, logs)       # default: calls on_batch_end
        when validating: on_test_begin({}), on_test_batch_begin/end ...,
                         on_test_end(val_logs)
        on_epoch_end(epoch, logs + {"val_" + name: value})
    on_train_end(logs of the last epoch)

``evaluate`` calls on_test_begin / on_test_batch_begin / on_test_batch_end /
on_test_end and ``predict`` the on_predict_* hooks (batch logs ``{"outputs": ...}``).
"""
from __future__ import annotations

import sys


def _print_msg(message, line_break=True):
    """Print to stdout as tf.keras' ``io_utils.print_msg`` does."""
    sys.stdout.write(message + "\n" if line_break else message)
    sys.stdout.flush()


def _default(method):
    """Marks a hook whose base implementation does nothing useful, so that a
    ``CallbackList`` can skip batch hooks no callback overrides."""
    method._is_default = True
    return method


def _is_default(method):
    return getattr(method, "_is_default", False)


class Callback:
    """Base class for callbacks: override any ``on_*`` hook.

    Attributes:
        model: the model being trained / evaluated / used for prediction (set
            by ``set_model``), None before.
        params: dict of training parameters (``verbose``, ``epochs``,
            ``steps``), set by ``set_params``.
    """

    def __init__(self):
        self.validation_data = None
        self.model = None
        self._chief_worker_only = None
        self._supports_tf_logs = False

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    # batch hooks --------------------------------------------------------
    @_default
    def on_batch_begin(self, batch, logs=None):
        """A backwards compatibility alias for ``on_train_batch_begin``."""

    @_default
    def on_batch_end(self, batch, logs=None):
        """A backwards compatibility alias for ``on_train_batch_end``."""

    @_default
    def on_train_batch_begin(self, batch, logs=None):
        """Called at the beginning of a training batch in ``fit``."""
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch, logs=None):
        """Called at the end of a training batch in ``fit``; ``logs`` holds the
        running metric values."""
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_test_batch_begin(self, batch, logs=None):
        """Called at the beginning of a batch in ``evaluate`` (and validation)."""

    @_default
    def on_test_batch_end(self, batch, logs=None):
        """Called at the end of a batch in ``evaluate`` (and validation)."""

    @_default
    def on_predict_batch_begin(self, batch, logs=None):
        """Called at the beginning of a batch in ``predict``."""

    @_default
    def on_predict_batch_end(self, batch, logs=None):
        """Called at the end of a batch in ``predict``; ``logs["outputs"]``."""

    # epoch hooks --------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (``fit`` only)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch (``fit`` only); ``logs`` holds the
        epoch's metric values, validation ones prefixed with ``val_``."""

    # begin / end hooks --------------------------------------------------
    def on_train_begin(self, logs=None):
        """Called at the beginning of training."""

    def on_train_end(self, logs=None):
        """Called at the end of training; ``logs`` are the last epoch's."""

    def on_test_begin(self, logs=None):
        """Called at the beginning of evaluation or validation."""

    def on_test_end(self, logs=None):
        """Called at the end of evaluation or validation."""

    def on_predict_begin(self, logs=None):
        """Called at the beginning of prediction."""

    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""

    # which batch hooks are worth calling --------------------------------
    def _implements_train_batch_hooks(self):
        return not (_is_default(self.on_batch_begin) and _is_default(self.on_batch_end)
                    and _is_default(self.on_train_batch_begin)
                    and _is_default(self.on_train_batch_end))

    def _implements_test_batch_hooks(self):
        return not (_is_default(self.on_test_batch_begin)
                    and _is_default(self.on_test_batch_end))

    def _implements_predict_batch_hooks(self):
        return not (_is_default(self.on_predict_batch_begin)
                    and _is_default(self.on_predict_batch_end))
