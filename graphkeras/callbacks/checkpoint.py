"""Callbacks that write the model to disk: ``ModelCheckpoint``, ``BackupAndRestore``."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil

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

    A full-model save (``save_weights_only=False``) in the native format
    (``.keras`` or a folder) also stores where the fit stood (``_FitState``: epoch,
    batch, the shuffling generator's state, the learning rate, ``best``), next to the
    weights, optimizer, metric and random-generator state the format holds. With the
    (tf.keras, deprecated) ``load_weights_on_restart=True`` a new ``fit`` restores the
    newest file matching ``filepath``: from such a file it puts all of that back and
    resumes exactly after the saved epoch or batch, as ``BackupAndRestore`` does; from
    other files it loads the weights only.
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
        self._fit_state = _FitState()
        self._save_point = (0, None)
        self.load_weights_on_restart = kwargs.pop("load_weights_on_restart", False)
        if self.load_weights_on_restart:
            # the fit loop asks the callbacks where to resume (see BackupAndRestore)
            self._maybe_load_initial_counters = self._counters_after_restart
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
        self._fit_state.reset()
        if self.load_weights_on_restart:
            path = self._get_most_recently_modified_file_matching_pattern(self.filepath)
            if path is not None and self._checkpoint_exists(path):
                try:
                    if _has_full_state(self.model) and _is_native_file(path):
                        state = self._fit_state.restore(self.model, path)
                        best = (state or {}).get("extra", {}).get("best")
                        if isinstance(best, (int, float)):
                            self.best = best
                    else:
                        self.model.load_weights(path)
                except (IOError, ValueError) as e:
                    raise ValueError(f"Error loading file from {path}. Reason: {e}")

    def _counters_after_restart(self, steps_per_epoch, initial_epoch):
        """``(initial_epoch, initial_step)`` after the file restored at
        ``on_train_begin`` (``load_weights_on_restart``); see ``BackupAndRestore``."""
        epoch, step = self._fit_state.counters(steps_per_epoch, initial_epoch)
        self._last_batch_seen = step - 1
        self._batches_seen_since_last_saving = 0
        self.epochs_since_last_save = 0
        return epoch, step

    def on_train_batch_begin(self, batch, logs=None):
        self._fit_state.before_batch(self.model)

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        self._fit_state.on_epoch_begin()

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
        self._save_point = (epoch, batch)
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
            return
        from graphkeras.saving import native
        epoch, batch = self._save_point
        best = self.best if self.save_best_only else None
        state = self._fit_state.capture(self.model, epoch, batch,
                                        extra={"best": None if best is None else float(best)})
        with native.training_state_for_saves(state):  # native files: an exact resume point
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


STATE_FORMAT = "graphkeras-training-state"


def _generator_state():
    from graphkeras import backend
    return backend.rng().bit_generator.state


def _set_generator_state(state, where):
    from graphkeras import backend
    try:
        backend.rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{where}: the saved state of the random generator is invalid "
                         f"({type(err).__name__}: {err}).") from None


def _has_full_state(model):
    """A graphkeras model (the exact-resume path), not a duck-typed stand-in."""
    from graphkeras.engine.trainer import Trainer
    return isinstance(model, Trainer)


def _is_native_file(path):
    from graphkeras.saving import _looks_like_hdf5
    return os.path.isdir(path) or (os.path.isfile(path) and not _looks_like_hdf5(path))


class _FitState:
    """Where a running ``fit`` stands, saved with the model's state so that a fit
    killed at any point resumes exactly (what ``BackupAndRestore`` and
    ``ModelCheckpoint`` share).

    The training state (``training_state.json`` in the file) is
    ``{"format", "version", "epoch", "batch", "rng", "epoch_rng", "learning_rate",
    "extra"}``: the epoch and the batch (-1: the epoch ended) the save followed, the
    state of ``graphkeras.backend``'s generator (which draws each epoch's shuffling)
    now and at the start of the epoch, and the optimizer's learning rate when it is a
    variable (callbacks may change it). The model's weights, optimizer variables,
    metric accumulators and random generators' counters (Dropout) are the file's other
    members (:func:`graphkeras.saving.native.save_state`).

    Resuming after batch ``b`` of epoch ``e`` (not its last): the generator is set
    back to its state at the start of ``e``, so the data handler draws the same
    shuffling; the fit loop skips the ``b + 1`` batches done (the data position);
    the saved metric state and the generator's state at the save are put back just
    before the first resumed batch (once the train step, which creates the metrics,
    exists). After an epoch's end (or its last batch): the generator's state at the
    save, and the fit goes on at epoch ``e + 1``."""

    def __init__(self):
        self.epoch_rng = None
        self.state = None
        self.where = None
        self.pending_metrics = None
        self.pending_rng = None

    def reset(self):
        self.__init__()
        self.epoch_rng = _generator_state()

    def on_epoch_begin(self):
        self.epoch_rng = _generator_state()

    def capture(self, model, epoch, batch, extra=None):
        state = {"format": STATE_FORMAT, "version": 1, "epoch": int(epoch),
                 "batch": -1 if batch is None else int(batch), "rng": _generator_state(),
                 "epoch_rng": self.epoch_rng if self.epoch_rng is not None
                 else _generator_state()}
        lr = getattr(getattr(model, "optimizer", None), "_learning_rate", None)
        if lr is not None and hasattr(lr, "assign") and hasattr(lr, "numpy"):
            state["learning_rate"] = float(np.asarray(lr.numpy()))
        if extra:
            state["extra"] = extra
        return state

    def restore(self, model, path):
        """Put the file's state into ``model``; returns its training state (None when
        the file has none: then only the model's state was restored)."""
        from graphkeras.saving import native
        state, metrics = native.restore_state(model, path)
        if state is None:
            return None
        epoch, batch = state.get("epoch"), state.get("batch")
        if state.get("format") != STATE_FORMAT or not isinstance(epoch, int) or \
                not isinstance(batch, int) or not isinstance(state.get("rng"), dict) or \
                not isinstance(state.get("epoch_rng"), dict):
            raise ValueError(f"{path}: training_state.json is not a graphkeras training state.")
        lr = state.get("learning_rate")
        variable = getattr(getattr(model, "optimizer", None), "_learning_rate", None)
        if isinstance(lr, float) and hasattr(variable, "assign"):
            variable.assign(np.float32(lr))
        self.state, self.where, self.pending_metrics = state, path, metrics
        return state

    def counters(self, steps_per_epoch, initial_epoch):
        """``(initial_epoch, initial_step)`` to resume at; sets the generator's state."""
        if self.state is None:
            return initial_epoch, 0
        epoch, batch = self.state["epoch"], self.state["batch"]
        if batch < 0 or (steps_per_epoch is not None and batch >= steps_per_epoch - 1):
            _set_generator_state(self.state["rng"], self.where)
            self.pending_metrics = self.pending_rng = None  # the next epoch starts afresh
            return epoch + 1, 0
        _set_generator_state(self.state["epoch_rng"], self.where)
        self.pending_rng = self.state["rng"]
        return epoch, batch + 1

    def before_batch(self, model):
        """At the first resumed batch: the saved metric state and generator state."""
        if self.pending_metrics is not None:
            from graphkeras.saving import native
            if self.pending_metrics and not native.assign_metric_state(model,
                                                                       self.pending_metrics):
                logging.warning("The metric state saved in %s does not match the model's "
                                "metrics; the resumed epoch's metrics start from zero.",
                                self.where)
            self.pending_metrics = None
        if self.pending_rng is not None:
            _set_generator_state(self.pending_rng, self.where)
            self.pending_rng = None


class BackupAndRestore(Callback):
    """Back up the training state so that an interrupted ``fit`` — even one killed
    with SIGKILL mid-epoch or mid-save — resumes exactly where it stopped: the
    restarted script finishes with the same weights, bit for bit, as an
    uninterrupted run.

    At each epoch end (or every ``save_freq`` batches) it writes
    ``<backup_dir>/backup.zip`` (:func:`graphkeras.saving.native.save_state`, one
    atomic write: a kill mid-save leaves the previous backup whole): the weights,
    the optimizer's variables (slots, ``iterations``) and learning rate, the metric
    accumulators, the random generators' seeds and counters (Dropout), the epoch and
    the batch, and the state of the generator behind shuffling (now and at the
    epoch's start; see ``_FitState``). At ``on_train_begin`` of the next ``fit`` it
    puts all of it back into the model, and at the end of a ``fit`` that finishes it
    deletes the backup (unless ``delete_checkpoint=False``).

    How the fit loop resumes (the contract with ``Model.fit``): right after
    ``callbacks.on_train_begin()`` it calls

        initial_epoch, initial_step = callbacks._maybe_load_initial_counters(
            steps_per_epoch, initial_epoch)

    (``CallbackList`` forwards to this callback's method of the same name) and
    starts at that epoch, skipping the ``initial_step`` batches of it already done
    (drawing the epoch's shuffling as it would) and keeping the restored metric
    state. With ``save_freq="epoch"`` a backup after epoch ``e`` gives ``(e + 1,
    0)``; with an integer ``save_freq`` a backup after batch ``b`` of epoch ``e``
    gives ``(e, b + 1)``, or ``(e + 1, 0)`` when ``b`` was the epoch's last batch.
    Without a backup it returns ``(initial_epoch, 0)``.

    A model that is not a graphkeras ``Model`` (a stand-in with
    ``save_weights``/``load_weights``) is backed up as ``checkpoint.weights.h5`` plus
    ``training_state.json`` (``{"epoch": e, "batch": b}``), weights only.

    Args:
        backup_dir: directory for the backup files; do not share it with other
            callbacks or runs.
        save_freq: "epoch", or an integer number of batches between backups.
        delete_checkpoint: delete the backup when training finishes.
        save_before_preemption: accepted for tf.keras compatibility; graphkeras
            receives no preemption notices, so it only warns.
    """

    BACKUP_FILE = "backup.zip"
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
        self._fit_state = _FitState()
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
    def _backup_path(self):
        return os.path.join(self.backup_dir, self.BACKUP_FILE)

    @property
    def _weights_path(self):
        return os.path.join(self.backup_dir, self.WEIGHTS_FILE)

    @property
    def _state_path(self):
        return os.path.join(self.backup_dir, self.STATE_FILE)

    def _backup(self, epoch, batch=-1):
        os.makedirs(self.backup_dir, exist_ok=True)
        if _has_full_state(self.model):
            from graphkeras.saving import native
            native.save_state(self.model, self._backup_path,
                              self._fit_state.capture(self.model, epoch, batch))
            return
        self.model.save_weights(self._weights_path)
        from graphkeras.saving.atomic import atomic_write_bytes
        # written after the weights: the state names a complete weights file
        atomic_write_bytes(self._state_path,
                           json.dumps({"epoch": int(epoch), "batch": int(batch)}).encode())

    def _remove_temporaries(self):
        """What a kill mid-save left: the unfinished temporary files of atomic writes."""
        if not os.path.isdir(self.backup_dir):
            return
        for name in os.listdir(self.backup_dir):
            if name.startswith((".tmp-", ".old-")):
                path = os.path.join(self.backup_dir, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)

    def _delete_backup(self):
        self._remove_temporaries()
        for path in (self._backup_path, self._state_path, self._weights_path,
                     self._state_path + ".tmp"):
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
        self._fit_state.reset()
        self._remove_temporaries()
        if _has_full_state(self.model) and os.path.exists(self._backup_path):
            state = self._fit_state.restore(self.model, self._backup_path)
            if state is None:
                raise ValueError(f"{self._backup_path} holds no training state; it is not a "
                                 "BackupAndRestore backup. Remove it or choose another "
                                 "`backup_dir`.")
            self._restored_epoch, self._restored_batch = state["epoch"], state["batch"]
        elif os.path.exists(self._state_path):
            with open(self._state_path) as f:
                state = json.load(f)
            self.model.load_weights(self._weights_path)
            self._restored_epoch = int(state.get("epoch", -1))
            self._restored_batch = int(state.get("batch", -1))

    def _maybe_load_initial_counters(self, steps_per_epoch, initial_epoch):
        """``(initial_epoch, initial_step)`` to resume at (see the class doc)."""
        if self._fit_state.state is not None:
            return self._fit_state.counters(steps_per_epoch, initial_epoch)
        epoch, batch = self._restored_epoch, self._restored_batch
        if batch >= 0:
            if steps_per_epoch is not None and batch >= steps_per_epoch - 1:
                return epoch + 1, 0
            return epoch, batch + 1
        if epoch >= 0:
            return epoch + 1, 0
        return initial_epoch, 0

    def _implements_train_batch_hooks(self):
        return self.save_freq != "epoch"

    def on_train_batch_begin(self, batch, logs=None):
        self._fit_state.before_batch(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq and self.save_freq != "epoch":
            self._batches_count += 1
            if self._batches_count >= self.save_freq:
                self._batches_count = 0
                self._backup(epoch=self._current_epoch, batch=batch)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        self._fit_state.on_epoch_begin()

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch=epoch)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            self._delete_backup()
