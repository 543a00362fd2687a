"""``fit``, ``evaluate`` and ``predict`` of a model compiled under a
:class:`~graphkeras.distribute.DataParallel` scope.

``Model.fit``/``evaluate``/``predict`` hand over to these functions (same
arguments, same results). The loops follow ``graphkeras.engine.trainer`` step by
step — the same data handling, callbacks, validation, ``BackupAndRestore``
resume contract and errors — and differ only in how a batch runs.
"""
from __future__ import annotations

import copy
import os

import numpy as np

from graphkeras.distribute import graphs
from graphkeras.distribute.data import ArrayBatch, IndexBatch
from graphkeras.distribute.strategy import WorkerError
from graphkeras.engine import data_adapter
from graphkeras.engine.data_handler import DataHandler, split_validation
from graphkeras.engine.steps import DataSpec


# ------------------------------------------------------------------------ graphs per model
class _Runner:
    """The distributed graphs of one compiled model, by data spec."""

    def __init__(self, model):
        self.token = id(model._compile_config)
        self.train = {}
        self.test = {}
        self.predict = None

    def release(self):
        self.train.clear()


def runner(model):
    """The model's graphs, rebuilt after a new ``compile``."""
    current = getattr(model, "_distributed_runner", None)
    if current is None or current.token != id(getattr(model, "_compile_config", None)):
        if current is not None:
            current.release()
        current = model._distributed_runner = _Runner(model)
    return current


def _spec(model, arrays, n_x, n_y, y_structure):
    ys, sws = arrays[n_x:n_x + n_y], arrays[n_x + n_y:]
    key = (n_x, tuple((a.shape[1:], a.dtype.name) for a in arrays[n_x:]), repr(y_structure))
    return key, ys, sws


def train_program(model, feed):
    run = runner(model)
    key, ys, sws = _spec(model, feed.sample, feed.n_x, feed.n_y, feed.y_structure)
    found = run.train.get(key)
    if found is None:
        model._build_containers()
        model._metrics_seen = True  # as a compiled step: metrics listed once the model trains
        spec = DataSpec(model._input_specs(), None, ys, feed.y_structure, sws)
        found = run.train[key] = graphs.trace_train(model, spec)
    return found


def test_graph(model, feed):
    run = runner(model)
    key, ys, sws = _spec(model, feed.sample, feed.n_x, feed.n_y, feed.y_structure)
    found = run.test.get(key)
    if found is None:
        model._build_containers()
        model._metrics_seen = True
        spec = DataSpec(model._input_specs(), None, ys, feed.y_structure, sws)
        found = run.test[key] = graphs.trace_test(model, spec)
    return found


# ------------------------------------------------------------------------ data
class _Feed:
    """Batches of a ``DataHandler`` for the workers.

    Arrays: cast once (as the compiled step would each batch), put in the object
    store once, and the handler is turned into one over row indices — so it still
    draws the shuffling, follows ``steps_per_epoch`` and resumes exactly as in a
    single process, but yields the rows each batch takes. Generators and
    ``Sequence`` objects: the driver reads each batch and scatters it."""

    def __init__(self, strategy, model, data):
        self.strategy = strategy
        self.model = model
        self.data = data
        self.dataset = None
        if not data.generator:
            self.n_x, self.n_y = len(data.x), len(data.y)
            arrays = model._cast_batch((data.x, data.y, data.sw))
            self.sample = arrays
            self.y_structure = data.y_structure
            self.dataset = strategy._put_data(arrays)
            data.x, data.y, data.sw = [np.arange(data.num_samples)], [], []
        else:
            self.sample = None
            self.y_structure = None

    def peek(self):
        """Learn the data's shapes without consuming a batch (arrays, ``Sequence``);
        False when only the first batch can tell (an iterator)."""
        if self.sample is not None:
            return True
        source = self.data.data
        if not (hasattr(source, "__getitem__") and hasattr(source, "__len__")):
            return False
        self._take(self._unpack(source[0]))
        return True

    def _unpack(self, item):
        from graphkeras.engine.steps import flat_targets
        from graphkeras.engine.training import unpack_x_y_sample_weight
        model, data = self.model, self.data
        x, y, sw = unpack_x_y_sample_weight(item)
        xs = data_adapter.flatten_inputs(x, model._input_names_for_data(x))
        ys, structure = flat_targets(y, model._output_names_for_targets(y))
        ys = [data_adapter.to_array(a, "y") for a in ys]
        sws = data._generator_weights(sw, ys, len(xs[0]))
        return (xs, ys, sws), structure

    def _take(self, batch_and_structure):
        (xs, ys, sws), structure = batch_and_structure
        self.n_x, self.n_y = len(xs), len(ys)
        self.y_structure = structure
        self.sample = self.model._cast_batch((xs, ys, sws))
        return self.sample

    def epoch(self):
        data = self.data
        for xs, ys, sws in data.epoch():
            if self.dataset is not None:
                yield IndexBatch(self.dataset, xs[0])
            else:
                self.n_x, self.n_y = len(xs), len(ys)
                self.y_structure = data.y_structure
                self.sample = self.model._cast_batch((xs, ys, sws))
                yield ArrayBatch(self.sample)

    def close(self):
        if self.dataset is not None:
            self.dataset.close()
            self.dataset = None


def _close(*feeds):
    for feed in feeds:
        if feed is not None:
            feed.close()


# ------------------------------------------------------------------------ fit
def fit(strategy, model, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
        callbacks=None, validation_split=0.0, validation_data=None, shuffle=True,
        class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None,
        validation_steps=None, validation_batch_size=None, validation_freq=1,
        max_queue_size=10, workers=1, use_multiprocessing=False):
    from graphkeras import callbacks as callbacks_mod
    from graphkeras.engine.trainer import _unpack
    model._assert_compiled("training/testing")
    verbose = 1 if verbose == "auto" else verbose
    if data_adapter.is_namedtuple(x):
        data_adapter.flatten_inputs(x, ["x"])
    if validation_split and validation_data is None:
        (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight,
                                                                  validation_split)
    model._prepare_for_data(x)
    data = DataHandler(model, x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                       class_weight)
    if not isinstance(callbacks, callbacks_mod.CallbackList):
        callbacks = callbacks_mod.CallbackList(callbacks, add_history=True,
                                               add_progbar=verbose != 0, model=model,
                                               verbose=verbose, epochs=epochs, steps=data.steps)
    model.stop_training = False
    val = feed = None
    try:
        feed = _Feed(strategy, model, data)
        if validation_data is not None:
            vx, vy, vsw = _unpack(validation_data)
            val = _Feed(strategy, model, DataHandler(model, vx, vy, vsw,
                                                     validation_batch_size or batch_size,
                                                     validation_steps, shuffle=False))
        backup = _backup_callback(callbacks)
        callbacks.on_train_begin()
        start = _resume(callbacks, data, initial_epoch, initial_epoch)
        if backup is not None and start[1] == 0 and feed.peek():
            # a resume point before any step: a worker lost before the first backup
            # resumes from here (the optimizer's and metrics' state exist once traced)
            train_program(model, feed)
            if not os.path.exists(backup._backup_path):
                backup._backup(epoch=start[0] - 1)
        restarts = 0
        while True:
            try:
                logs = _epochs(strategy, model, feed, val, callbacks, start, epochs,
                               validation_freq)
                break
            except WorkerError as err:
                if backup is None or restarts >= strategy.max_restarts or \
                        not _replayable(data) or not os.path.exists(backup._backup_path):
                    raise
                restarts += 1
                model._distributed_restarts = getattr(model, "_distributed_restarts", 0) + 1
                _print_restart(err, verbose)
                strategy._ensure_workers()  # new processes for the lost workers
                backup.on_train_begin()  # restores the model from the last backup
                start = _resume(backup, data, initial_epoch, initial_epoch, always=True)
        strategy._sync_state()  # (done after each epoch: a no-op unless stopped early)
    except BaseException:
        try:  # the driver's model gets the state of the last step (a callback raised ...)
            strategy._sync_state()
        except Exception:  # noqa: BLE001 - a lost worker: the error in flight says it
            pass
        raise
    finally:
        _close(feed, val)
    callbacks.on_train_end(logs=logs)
    return model.history


def _backup_callback(callbacks):
    from graphkeras.callbacks import BackupAndRestore
    found = [cb for cb in callbacks if isinstance(cb, BackupAndRestore)]
    return found[0] if found else None


def _replayable(data):
    """A fit can go back to a backup when its data can be read again from there."""
    return not data.generator or (hasattr(data.data, "__getitem__") and
                                  hasattr(data.data, "__len__"))


def _print_restart(err, verbose):
    import logging
    logging.getLogger(__name__).warning("%s Restarting the workers and resuming from the last "
                                        "backup.", err)
    if verbose:
        print(f"\n{err}\nRestarting the workers and resuming from the last backup.")


def _resume(loader, data, initial_epoch, first_epoch, always=False):
    """``(epoch, step)`` to start at, and the data put there (Trainer.fit's contract;
    ``always`` after a restart: the data handler stopped mid-epoch)."""
    resume_epoch, initial_step = loader._maybe_load_initial_counters(data.steps, initial_epoch)
    if always or (resume_epoch, initial_step) != (first_epoch, 0):
        data.resume(max(resume_epoch - first_epoch, 0) * data.steps + initial_step,
                    initial_step)
    return resume_epoch, initial_step


def _needs_state_per_batch(callbacks):
    """Whether a callback's batch hooks may look at the model: then the driver reads
    the trained state back after every step (else after each epoch)."""
    from graphkeras.callbacks import History, ProgbarLogger, TerminateOnNaN
    own = (History, ProgbarLogger, TerminateOnNaN)  # they read the logs only
    return any(cb._implements_train_batch_hooks() for cb in callbacks if type(cb) not in own)


def _epochs(strategy, model, feed, val, callbacks, start, epochs, validation_freq):
    from graphkeras.engine.trainer import _should_eval
    initial_epoch, initial_step = start
    logs = {}
    training_logs = None
    per_batch = _needs_state_per_batch(callbacks)
    for epoch in range(initial_epoch, epochs):
        if not initial_step:  # resumed mid-epoch: the restored metric state goes on
            model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        step, initial_step = initial_step, 0
        for batch in feed.epoch():
            program = train_program(model, feed)  # traced before the callbacks run
            callbacks.on_train_batch_begin(step)
            logs = strategy._run_train(program, batch, model)
            step += 1
            if per_batch:
                strategy._sync_state()
            callbacks.on_train_batch_end(step - 1, logs)
            if model.stop_training:
                break
        if not logs:
            raise ValueError("Unexpected result of `train_function` (Empty logs): the data "
                             "produced no batches. Check `steps_per_epoch` and the data.")
        strategy._sync_state()  # before validation and on_epoch_end: the trained model
        epoch_logs = copy.copy(logs)
        if val is not None and _should_eval(epoch, validation_freq):
            val_logs = _evaluate_feed(strategy, model, val, callbacks)
            epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    return training_logs


# ------------------------------------------------------------------------ evaluate
def evaluate(strategy, model, x=None, y=None, batch_size=None, verbose="auto",
             sample_weight=None, steps=None, callbacks=None, max_queue_size=10, workers=1,
             use_multiprocessing=False, return_dict=False, **kwargs):
    from graphkeras import callbacks as callbacks_mod
    from graphkeras.engine.trainer import _flatten_logs
    model._assert_compiled("training/testing")
    if kwargs:
        raise TypeError(f"Invalid keyword arguments: {list(kwargs)}")
    verbose = 1 if verbose == "auto" else verbose
    model._prepare_for_data(x)
    data = DataHandler(model, x, y, sample_weight, batch_size, steps, shuffle=False)
    if not isinstance(callbacks, callbacks_mod.CallbackList):
        callbacks = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=model,
                                               verbose=verbose, epochs=1, steps=data.steps)
    feed = _Feed(strategy, model, data)
    try:
        logs = _evaluate_feed(strategy, model, feed, callbacks)
    finally:
        feed.close()
    return logs if return_dict else _flatten_logs(logs, model.metrics_names)


def _evaluate_feed(strategy, model, feed, callbacks):
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = {}
    state = None
    for step, batch in enumerate(feed.epoch()):
        graph = test_graph(model, feed)
        if state is None or state[0] is not graph:  # the weights do not change: sent once
            state = (graph, strategy._ray.put([np.asarray(v.numpy()) for v in graph.sent]))
        callbacks.on_test_batch_begin(step)
        logs = strategy._run_stateful(graph, batch, state[1], model)
        callbacks.on_test_batch_end(step, logs)
    if not logs:
        raise ValueError("Unexpected result of `test_function` (Empty logs): the data produced "
                         "no batches.")
    callbacks.on_test_end(logs)
    return logs


# ------------------------------------------------------------------------ predict
def predict(strategy, model, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
            max_queue_size=10, workers=1, use_multiprocessing=False):
    from graphkeras import callbacks as callbacks_mod
    from graphkeras.engine.training import unpack_x_y_sample_weight
    if x is None:
        raise ValueError("Unexpected value for `x`: None. Pass the data to predict on.")
    verbose = 1 if verbose == "auto" else verbose
    dataset = None
    if data_adapter.is_generator_like(x):
        batches = (ArrayBatch(model._prepare_inputs(unpack_x_y_sample_weight(b)[0]))
                   for b in data_adapter.generator_batches(x, steps))
        total = len(x) if hasattr(x, "__len__") else steps
    else:
        if batch_size is None:
            batch_size = 32
        arrays = model._prepare_inputs(x)
        n = data_adapter.num_samples(arrays)
        if n == 0:
            raise ValueError("Expected input data to be non-empty: `x` has 0 samples.")
        total = -(-n // batch_size) if steps is None else min(steps, -(-n // batch_size))
        dataset = strategy._put_data(arrays)
        batches = (IndexBatch(dataset, np.arange(i * batch_size, min((i + 1) * batch_size, n)))
                   for i in range(total))
    run = runner(model)
    if run.predict is None:
        run.predict = graphs.predict_graph(model)
    graph = run.predict
    if not isinstance(callbacks, callbacks_mod.CallbackList):
        callbacks = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=model,
                                               verbose=verbose, epochs=1, steps=total)
    try:
        state = strategy._ray.put([np.asarray(v.numpy()) for v in graph.sent])
        callbacks.on_predict_begin()
        chunks = []
        for step, batch in enumerate(batches):
            callbacks.on_predict_batch_begin(step)
            chunks.append(strategy._run_predict(graph, batch, state))
            callbacks.on_predict_batch_end(step, {"outputs": model._pack_outputs(chunks[-1])})
    finally:
        if dataset is not None:
            dataset.close()
    if not chunks:
        raise ValueError("Unexpected result of `predict_function` (Empty batch_outputs): the "
                         "data produced no batches. Pass non-empty data.")
    callbacks.on_predict_end()
    outs = [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(chunks[0]))]
    return model._pack_outputs(outs)
