"""Callbacks that write the model to disk: ``ModelCheckpoint``, ``BackupAndRestore``."""
from __future__ import annotations

import json
import logging
import os
import re

import numpy as np

from graphkeras.callbacks.base import Callback, _print_msg


def _path_to_string(path):
    return os.fspath(path) if isinstance(path, os.PathLike) else path


class ModelCheckpoint(Callback):
    """Save the model or its weights during training.

    Args:
        filepath: where to save; may hold ``str.format`` fields filled from
            ``epoch`` (1-based), ``batch`` (1-based, with an integer
            ``save_freq``) and the logs, e.g. ``"w-{epoch:02d}-{val_loss:.2f}.h5"``.
        monitor: the metric ``save_best_only`` compares.
        verbose: 1 prints a line at each save (or skipped save).
        save_best_only: save only when ``monitor`` improves on the best so far
            (the same filepath is then overwritten unless it has fields).
        save_weights_only: ``model.save_weights(path, overwrite=True)`` instead
            of ``model.save(path, overwrite=True)``.
        mode: "min", "max" or "auto" ("max" when ``"acc"`` is in the monitor name
            or it starts with ``fmeasure``).
        save_freq: "epoch", or an integer: save every that many batches.
        options: accepted for tf.keras compatibility and ignored.
        initial_value_threshold: the value the monitor must beat for the first
            save with ``save_best_only``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", options=None,
                 initial_value_threshold=None, **kwargs):
        super().__init__()
        self._supports_tf_logs = True
        self.monitor = monitor
        self.verbose = verbose
        self.filepath = _path_to_string(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.epochs_since_last_save = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = -1
        self._current_epoch = 0
        self.best = initial_value_threshold
        self._options = options
        self.load_weights_on_restart = kwargs.pop("load_weights_on_restart", False)
        if self.load_weights_on_restart:
            logging.warning("`load_weights_on_restart` argument is deprecated. Please use "
                            "`model.load_weights()` for loading weights before the start of "
                            "`model.fit()`.")
        if "period" in kwargs:
            self.period = kwargs.pop("period")
            logging.warning("`period` argument is deprecated. Please use `save_freq` to "
                            "specify the frequency in number of batches seen.")
        else:
            self.period = 1
        if mode not in ["auto", "min", "max"]:
            logging.warning("ModelCheckpoint mode %s is unknown, fallback to auto mode.", mode)
            mode = "auto"
        if mode == "max" or (mode == "auto" and ("acc" in self.monitor
                                                 or self.monitor.startswith("fmeasure"))):
            self.monitor_op = np.greater
            if self.best is None:
                self.best = -np.inf
        else:
            self.monitor_op = np.less
            if self.best is None:
                self.best = np.inf
        if self.save_freq != "epoch" and not isinstance(self.save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {self.save_freq}. "
                             'Expected save_freq are "epoch" or integer')

    def on_train_begin(self, logs=None):
        if self.load_weights_on_restart:
            path = self._get_most_recently_modified_file_matching_pattern(self.filepath)
            if path is not None and self._checkpoint_exists(path):
                try:
                    self.model.load_weights(path)
                except (IOError, ValueError) as e:
                    raise ValueError(f"Error loading file from {path}. Reason: {e}")

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_since_last_save += 1
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch started
            new_batches = batch + 1
        else:
            new_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += new_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save_model(self, epoch, batch, logs):
        """Save (or skip, with ``save_best_only``) at ``epoch``; ``batch`` is None
        for epoch-level saving."""
        logs = logs or {}
        if not (isinstance(self.save_freq, int) or self.epochs_since_last_save >= self.period):
            return
        self.epochs_since_last_save = 0
        filepath = self._get_file_path(epoch, batch, logs)
        dirname = os.path.dirname(filepath)
        if dirname and not os.path.exists(dirname):
            os.makedirs(dirname, exist_ok=True)
        try:
            if self.save_best_only:
                current = logs.get(self.monitor)
                if current is None:
                    logging.warning("Can save best model only with %s available, skipping.",
                                    self.monitor)
                elif self.monitor_op(current, self.best):
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from "
                                   f"{self.best:.5f} to {current:.5f}, saving model to {filepath}")
                    self.best = current
                    self._save_handler(filepath)
                elif self.verbose > 0:
                    _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                               f"{self.best:.5f}")
            else:
                if self.verbose > 0:
                    _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
                self._save_handler(filepath)
        except IsADirectoryError:
            raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        except IOError as e:
            if "is a directory" in str(e.args[0]).lower():
                raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                              f"Filepath used is an existing directory: {filepath}")
            raise

    def _save_handler(self, filepath):
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {e}")

    def _checkpoint_exists(self, filepath):
        if filepath.endswith(".h5"):
            return os.path.exists(filepath)
        return os.path.exists(filepath) or os.path.exists(filepath + ".index")

    def _get_most_recently_modified_file_matching_pattern(self, pattern):
        """The newest file whose name matches ``pattern`` (its format fields as
        wildcards); among equally new ones the largest path. None if none."""
        dir_name = os.path.dirname(pattern)
        regex = re.compile("^" + re.sub(r"{.*}", r".*", os.path.basename(pattern)) + "$")
        newest, newest_time, newest_count, largest = None, 0, 0, None
        if os.path.exists(dir_name or "."):
            for name in os.listdir(dir_name or "."):
                if not regex.match(name):
                    continue
                path = os.path.join(dir_name, name)
                mtime = os.path.getmtime(path)
                if largest is None or path > largest:
                    largest = path
                if mtime > newest_time:
                    newest, newest_time, newest_count = path, mtime, 1
                elif mtime == newest_time:
                    newest_count += 1
        return newest if newest_count == 1 else largest


class BackupAndRestore(Callback):
    """Back up the training state (weights and epoch) so that an interrupted
    ``fit`` resumes where it stopped.

    At each epoch end (or every ``save_freq`` batches) it writes, into
    ``backup_dir``, the weights with ``model.save_weights(<backup_dir>/
    checkpoint.weights.h5)`` and then ``training_state.json``
    (``{"epoch": e, "batch": b}``, ``b`` = -1 for epoch-level backups). At
    ``on_train_begin`` of the next ``fit`` it loads those weights
    (``model.load_weights``) if a backup exists, and at the end of a ``fit``
    that finishes it deletes the backup (unless ``delete_checkpoint=False``).

    How the fit loop resumes (the contract with ``Model.fit``): right after
    ``callbacks.on_train_begin()`` it calls

        initial_epoch, initial_step = callbacks._maybe_load_initial_counters(
            steps_per_epoch, initial_epoch)

    (``CallbackList`` forwards to this callback's method of the same name) and
    starts at that epoch, skipping ``initial_step`` batches of it. With
    ``save_freq="epoch"`` a backup after epoch ``e`` gives ``(e + 1, 0)``; with
    an integer ``save_freq`` a backup after batch ``b`` of epoch ``e`` gives
    ``(e, b + 1)``, or ``(e + 1, 0)`` when ``b`` was the epoch's last batch.
    Without a backup it returns ``(initial_epoch, 0)``. Optimizer slots are
    restored only as far as ``save_weights``/``load_weights`` carry them.

    Args:
        backup_dir: directory for the backup files; do not share it with other
            callbacks or runs.
        save_freq: "epoch", or an integer number of batches between backups.
        delete_checkpoint: delete the backup when training finishes.
        save_before_preemption: accepted for tf.keras compatibility; graphkeras
            receives no preemption notices, so it only warns.
    """

    WEIGHTS_FILE = "checkpoint.weights.h5"
    STATE_FILE = "training_state.json"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True,
                 save_before_preemption=False):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = _path_to_string(backup_dir)
        self._supports_tf_logs = True
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.save_before_preemption = save_before_preemption
        self._batches_count = 0
        self._current_epoch = 0
        self._restored_epoch = -1
        self._restored_batch = -1
        if not save_freq and not save_before_preemption:
            raise ValueError("Either `save_freq` or `save_before_preemption` must be set.")
        if save_freq and save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. "
                             'Expected save_freq are "epoch" or integer')
        if save_before_preemption:
            logging.warning("BackupAndRestore: `save_before_preemption` is not supported by "
                            "graphkeras (no preemption notices); backups follow `save_freq`.")
        self._chief_worker_only = False

    # files ----------------------------------------------------------------
    @property
    def _weights_path(self):
        return os.path.join(self.backup_dir, self.WEIGHTS_FILE)

    @property
    def _state_path(self):
        return os.path.join(self.backup_dir, self.STATE_FILE)

    def _backup(self, epoch, batch=-1):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save_weights(self._weights_path)
        tmp = self._state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"epoch": int(epoch), "batch": int(batch)}, f)
        os.replace(tmp, self._state_path)  # the state names a complete weights file

    def _delete_backup(self):
        for path in (self._state_path, self._weights_path, self._state_path + ".tmp"):
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:  # missing, or holds other files
            pass

    # hooks ----------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if not getattr(self.model, "built", True):
            logging.warning("To use the BackupAndRestore callback, you model must be built "
                            "before you call `fit()`. Model %s is unbuilt. You can build it "
                            "beforehand by calling it on a batch of data.", self.model)
        self._restored_epoch, self._restored_batch = -1, -1
        self._batches_count = 0
        if os.path.exists(self._state_path):
            with open(self._state_path) as f:
                state = json.load(f)
            self.model.load_weights(self._weights_path)
            self._restored_epoch = int(state.get("epoch", -1))
            self._restored_batch = int(state.get("batch", -1))

    def _maybe_load_initial_counters(self, steps_per_epoch, initial_epoch):
        """``(initial_epoch, initial_step)`` to resume at (see the class doc)."""
        epoch, batch = self._restored_epoch, self._restored_batch
        if isinstance(self.save_freq, int) and not isinstance(self.save_freq, bool):
            if batch >= 0:
                if steps_per_epoch is not None and batch == steps_per_epoch - 1:
                    return epoch + 1, 0
                return epoch, batch + 1
        elif epoch >= 0:
            return epoch + 1, 0
        return initial_epoch, 0

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq and self.save_freq != "epoch":
            self._batches_count += 1
            if self._batches_count >= self.save_freq:
                self._batches_count = 0
                self._backup(epoch=self._current_epoch, batch=batch)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch=epoch)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            self._delete_backup()
