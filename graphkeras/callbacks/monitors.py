"""Callbacks that watch a metric or steer the optimizer: ``EarlyStopping``,
``ReduceLROnPlateau``, ``LearningRateScheduler``."""
from __future__ import annotations

import logging

import numpy as np

from graphkeras.callbacks.base import Callback, _print_msg


def _lr_attribute(optimizer):
    return "learning_rate" if hasattr(optimizer, "learning_rate") else "lr"


def get_learning_rate(optimizer):
    """The optimizer's learning rate as tf.keras' ``backend.get_value`` gives it: a
    numpy scalar for a variable (``np.float32``), a plain number as it is."""
    value = getattr(optimizer, _lr_attribute(optimizer))
    if not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        value = value[()]
    return value


def set_learning_rate(optimizer, value):
    """Set the learning rate: through the optimizer's ``learning_rate`` setter
    when it has one, by assigning to a variable attribute, or as an attribute."""
    name = _lr_attribute(optimizer)
    current = getattr(optimizer, name, None)
    has_setter = isinstance(getattr(type(optimizer), name, None), property)
    if not has_setter and hasattr(current, "assign"):
        current.assign(np.asarray(value, dtype=getattr(current, "dtype", "float32")))
    else:
        setattr(optimizer, name, value)


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    Args:
        monitor: the quantity to watch (a key of the epoch logs).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints when it stops and when it restores weights.
        mode: "min", "max" or "auto" ("max" for names ending in ``acc``,
            ``accuracy`` or ``auc``, otherwise "min").
        baseline: a value the metric must beat; until it does, epochs count
            against ``patience`` even when the metric improves.
        restore_best_weights: at the end of training, put back the weights of
            the best epoch (when the monitor was seen at least once).
        start_from_epoch: epochs to wait before watching (warm-up).

    After training, ``stopped_epoch`` is the (0-based) epoch it stopped at (0
    when it did not stop), ``best`` the best value, ``best_epoch`` its epoch.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch
        if mode not in ["auto", "min", "max"]:
            logging.warning("EarlyStopping mode %s is unknown, fallback to auto mode.", mode)
            mode = "auto"
        if mode == "min":
            self.monitor_op = np.less
        elif mode == "max":
            self.monitor_op = np.greater
        elif (self.monitor.endswith("acc") or self.monitor.endswith("accuracy")
              or self.monitor.endswith("auc")):
            self.monitor_op = np.greater
        else:
            self.monitor_op = np.less
        # Improving means moving past the reference by min_delta, in the good direction.
        self.min_delta *= 1 if self.monitor_op == np.greater else -1

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op == np.less else -np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first epoch seen is the best so far, whatever the baseline.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg("Restoring model weights from the end of the best epoch: "
                           f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            logging.warning("Early stopping conditioned on metric `%s` which is not available. "
                            "Available metrics are: %s", self.monitor, ",".join(list(logs.keys())))
        return value

    def _is_improvement(self, monitor_value, reference_value):
        return self.monitor_op(monitor_value - self.min_delta, reference_value)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving
    for ``patience`` epochs (never below ``min_lr``), then wait ``cooldown``
    epochs. Adds ``"lr"`` to each epoch's logs.

    Args:
        monitor: the quantity to watch.
        factor: ``new_lr = lr * factor`` (must be < 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto" ("max" when ``"acc"`` is in the name).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the learning rate.

    It reads and sets ``model.optimizer.learning_rate``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0, **kwargs):
        super().__init__()
        self.monitor = monitor
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            logging.warning("`epsilon` argument is deprecated and will be removed, use "
                            "`min_delta` instead.")
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.mode = mode
        self.monitor_op = None
        self._reset()

    def _reset(self):
        """Reset the wait and cooldown counters (and the best value)."""
        if self.mode not in ["auto", "min", "max"]:
            logging.warning("Learning rate reduction mode %s is unknown, fallback to auto mode.",
                            self.mode)
            self.mode = "auto"
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: np.less(a, b - self.min_delta)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.min_delta)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}  # as tf.keras: an empty dict is replaced, not updated
        logs["lr"] = get_learning_rate(self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            logging.warning("Learning rate reduction is conditioned on metric `%s` which is not "
                            "available. Available metrics are: %s",
                            self.monitor, ",".join(list(logs.keys())))
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = get_learning_rate(self.model.optimizer)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    set_learning_rate(self.model.optimizer, new_lr)
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                                   f"rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``, for one-argument schedules); ``epoch`` counts from 0
    and ``lr`` is the current rate as a float. The epoch logs get ``"lr"``.

    Args:
        schedule: the function; it must return a float.
        verbose: 1 prints the rate set at each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not (hasattr(optimizer, "lr") or hasattr(optimizer, "learning_rate")):
            raise ValueError('Optimizer must have a "lr" attribute.')
        try:  # schedule(epoch, lr)
            lr = float(get_learning_rate(optimizer))
            lr = self.schedule(epoch, lr)
        except TypeError:  # the one-argument form
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f'The output of the "schedule" function should be float. Got: {lr}')
        set_learning_rate(optimizer, lr)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                       f"{lr}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}  # as tf.keras: an empty dict is replaced, not updated
        logs["lr"] = get_learning_rate(self.model.optimizer)
