"""``compile``, ``fit``, ``evaluate`` and the ``*_on_batch`` methods.

The loops are plain Python over batches; each batch is one call of a compiled
step (:mod:`graphkeras.engine.steps`), whose graph was traced from
``train_step``/``test_step`` — the built-in ones below or a user's override.
"""
from __future__ import annotations

import copy

import numpy as np

from graphkeras.engine import data_adapter
from graphkeras.engine.data_handler import DataHandler, split_validation
from graphkeras.engine.gradient_tape import GradientTape
from graphkeras.engine.steps import CompiledStep, DataSpec


class Trainer:
    """Mixed into ``Model``."""

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, **kwargs):
        if kwargs:
            raise TypeError(f"Invalid keyword argument(s) in `compile()`: {tuple(kwargs)}. Valid "
                            "keyword arguments include \"cloning\", \"experimental_run_tf_function\","
                            " \"distribute\", \"target_tensors\", or \"sample_weight_mode\".")
        from graphkeras import optimizers as optimizers_mod
        if jit_compile:
            _require_tvm()
        if isinstance(optimizer, (list, tuple)):  # one per sub-model (WideDeepModel), as tf.keras
            self.optimizer = [optimizers_mod.get(o) for o in optimizer]
        else:
            self.optimizer = optimizers_mod.get(optimizer)
        self.loss = loss
        self._compile_config = dict(optimizer=optimizer, loss=loss, metrics=metrics,
                                    loss_weights=loss_weights, weighted_metrics=weighted_metrics,
                                    run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
                                    jit_compile=jit_compile)
        self._run_eagerly = run_eagerly
        self._steps_per_execution = int(steps_per_execution or 1)
        self._jit_compile = jit_compile
        self._compiled_with = (loss, loss_weights, metrics, weighted_metrics)
        self.compiled_loss = None
        self.compiled_metrics = None
        self._metrics_seen = []
        self._release_steps()
        self.predict_function = None
        self._predict_graph = None
        self._is_compiled = True
        from graphkeras.distribute import current_strategy  # compiled in a strategy's scope
        self._distribute_strategy = current_strategy() or getattr(self, "_distribute_strategy", None)

    def _build_containers(self):
        from graphkeras.engine.compile_utils import LossesContainer, MetricsContainer
        if self.compiled_loss is not None:
            return
        if self.output_names is None:
            self._ensure_output_names()
        loss, loss_weights, metrics, weighted_metrics = self._compiled_with
        if loss is None and type(self).train_step is Trainer.train_step:
            loss_container = LossesContainer(None, None, self.output_names)
        else:
            loss_container = LossesContainer(loss, loss_weights, self.output_names)
        self.compiled_loss = loss_container
        self.compiled_metrics = MetricsContainer(metrics, weighted_metrics, self.output_names)

    def _ensure_output_names(self):
        if self.output_names is None:
            self.make_predict_function()

    def _assert_compiled(self, what):
        if not getattr(self, "_is_compiled", False):
            raise RuntimeError(f"You must compile your model before {what}. Call "
                               "`model.compile(optimizer, loss)`.")

    # ------------------------------------------------------------ metrics
    @property
    def metrics(self):
        out = []
        if self.compiled_loss is not None and self._metrics_seen:
            out += self.compiled_loss.metrics
        if self.compiled_metrics is not None and self._metrics_seen:
            out += self.compiled_metrics.metrics
        for layer in [self] + self._flatten_sublayers():
            out += [m for m in layer._metrics if all(m is not o for o in out)]
        return out

    def _flatten_sublayers(self):
        found, seen, stack, i = [], set(), list(self._layers), 0
        while i < len(stack):  # breadth first; linear in the layers (a set of ids, no pop(0))
            layer = stack[i]
            i += 1
            if id(layer) not in seen:
                seen.add(id(layer))
                found.append(layer)
                stack.extend(layer._layers)
        return found

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------ steps
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """Total loss of a batch, with regularization penalties (tf.keras' contract)."""
        return self.compiled_loss(self._align(y), self._align(y_pred),
                                  self._align_weights(sample_weight), self.losses)

    def compute_metrics(self, x, y, y_pred, sample_weight):
        self.compiled_metrics.update_state(self._align(y), self._align(y_pred),
                                           self._align_weights(sample_weight))
        return self.get_metrics_result()

    def train_step(self, data):
        x, y, sample_weight = _unpack(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = _unpack(data)
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _align(self, structure):
        if structure is None:
            return [None] * len(self.output_names)
        if isinstance(structure, dict):
            return [structure.get(n) for n in self.output_names]
        if isinstance(structure, (list, tuple)):
            return list(structure)
        return [structure]

    def _align_weights(self, sample_weight):
        if sample_weight is None:
            return None
        if isinstance(sample_weight, dict):
            return [sample_weight.get(n) for n in self.output_names]
        if isinstance(sample_weight, (list, tuple)):
            return list(sample_weight)
        return [sample_weight] * len(self.output_names)

    # ------------------------------------------------------------ compiled functions
    def _release_steps(self):
        for step in getattr(self, "_steps", {}).values():
            step.release()
        self._steps = {}
        self.train_function = None
        self.test_function = None

    def _step_for(self, kind, batch, y_structure, repeat=1):
        xs, ys, sws = batch
        key = (kind, tuple((a.shape[1:], a.dtype.name) for a in ys + sws), len(xs), repeat)
        step = self._steps.get(key)
        if step is None:
            self._build_containers()
            self._metrics_seen = True  # tf.keras lists metrics once the model trains/evaluates
            spec = DataSpec(self._input_specs(), None, ys, y_structure, sws)
            step = CompiledStep(self, kind, spec, eager=self.run_eagerly, repeat=repeat)
            self._steps[key] = step
        return step

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if force:
            self._release_steps()

        def train_function(batch, y_structure=None, steps=1):
            """One call: ``steps`` batches back to back (``steps_per_execution``)."""
            return self._step_for("train", batch, y_structure, steps)(self._cast_batch(batch))

        self.train_function = train_function
        return train_function

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        if force:
            self._release_steps()

        def test_function(batch, y_structure=None, steps=1):
            return self._step_for("test", batch, y_structure, steps)(self._cast_batch(batch))

        self.test_function = test_function
        return test_function

    def _cast_batch(self, batch):
        xs, ys, sws = batch
        xs = data_adapter.check_and_cast(xs, self._input_specs(), self.name)
        ys = [_cast_target(y) for y in ys]
        sws = [np.asarray(s, np.float32) for s in sws]
        return xs + ys + sws

    def _prepare_for_data(self, x):
        """Build a model that has no input shape yet from its first data."""
        if self._input_specs() is None:
            self._build_from_data(_peek(x) if data_adapter.is_generator_like(x) else x)

    def _input_names_for_data(self, x):
        specs = self._input_specs()
        return [s[0] for s in specs]

    def _output_names_for_targets(self, y):
        self._ensure_output_names()
        return self.output_names

    # ------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, max_queue_size=10, workers=1,
            use_multiprocessing=False):
        if getattr(self, "_distribute_strategy", None) is not None:  # gk.distribute runs it
            return _distributed("fit", self, locals())
        from graphkeras import callbacks as callbacks_mod
        self._assert_compiled("training/testing")
        verbose = 1 if verbose == "auto" else verbose
        if data_adapter.is_namedtuple(x):
            data_adapter.flatten_inputs(x, ["x"])
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight,
                                                                      validation_split)
        self._prepare_for_data(x)
        data = DataHandler(self, x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                           class_weight)
        if not isinstance(callbacks, callbacks_mod.CallbackList):
            callbacks = callbacks_mod.CallbackList(callbacks, add_history=True,
                                                   add_progbar=verbose != 0, model=self,
                                                   verbose=verbose, epochs=epochs,
                                                   steps=data.steps)
        self.stop_training = False
        train_function = self.make_train_function()
        val = None
        if validation_data is not None:
            vx, vy, vsw = _unpack(validation_data)
            val = DataHandler(self, vx, vy, vsw, validation_batch_size or batch_size,
                              validation_steps, shuffle=False)
        callbacks.on_train_begin()
        # BackupAndRestore resumes an interrupted fit here: at batch `initial_step` of an
        # epoch, the data where the interrupted fit had it (the batches done are skipped)
        resume_epoch, initial_step = callbacks._maybe_load_initial_counters(data.steps,
                                                                            initial_epoch)
        if (resume_epoch, initial_step) != (initial_epoch, 0):
            data.resume(max(resume_epoch - initial_epoch, 0) * data.steps + initial_step,
                        initial_step)
        initial_epoch = resume_epoch
        logs = {}
        training_logs = None
        for epoch in range(initial_epoch, epochs):
            if not initial_step:  # resumed mid-epoch: the restored metric state goes on
                self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            step, initial_step, prebuild = initial_step, 0, initial_step > 0
            for n, batch in data.epoch_groups(self._steps_per_execution):
                if prebuild:  # the step creates the metrics, which then take the saved state
                    self._step_for("train", batch, data.y_structure, n)
                    prebuild = False
                callbacks.on_train_batch_begin(step)
                logs = train_function(batch, data.y_structure, n)
                step += n
                callbacks.on_train_batch_end(step - 1, logs)
                if self.stop_training:
                    break
            if not logs:
                raise ValueError("Unexpected result of `train_function` (Empty logs): the data "
                                 "produced no batches. Check `steps_per_epoch` and the data.")
            epoch_logs = copy.copy(logs)
            if val is not None and _should_eval(epoch, validation_freq):
                val_logs = self._evaluate_handler(val, callbacks=callbacks, verbose=0)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        callbacks.on_train_end(logs=training_logs)
        return self.history

    # ------------------------------------------------------------ evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, max_queue_size=10, workers=1,
                 use_multiprocessing=False, return_dict=False, **kwargs):
        if getattr(self, "_distribute_strategy", None) is not None:  # gk.distribute runs it
            return _distributed("evaluate", self, locals())
        from graphkeras import callbacks as callbacks_mod
        self._assert_compiled("training/testing")
        if kwargs:
            raise TypeError(f"Invalid keyword arguments: {list(kwargs)}")
        verbose = 1 if verbose == "auto" else verbose
        self._prepare_for_data(x)
        data = DataHandler(self, x, y, sample_weight, batch_size, steps, shuffle=False)
        if not isinstance(callbacks, callbacks_mod.CallbackList):
            callbacks = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                                   verbose=verbose, epochs=1, steps=data.steps)
        logs = self._evaluate_handler(data, callbacks, verbose)
        return logs if return_dict else _flatten_logs(logs, self.metrics_names)

    def _evaluate_handler(self, data, callbacks, verbose):
        test_function = self.make_test_function()
        self.reset_metrics()
        callbacks.on_test_begin()
        logs = {}
        step = 0
        for n, batch in data.epoch_groups(self._steps_per_execution):
            callbacks.on_test_batch_begin(step)
            logs = test_function(batch, data.y_structure, n)
            step += n
            callbacks.on_test_batch_end(step - 1, logs)
        if not logs:
            raise ValueError("Unexpected result of `test_function` (Empty logs): the data produced "
                             "no batches.")
        callbacks.on_test_end(logs)
        return logs

    # ------------------------------------------------------------ on batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        self._assert_compiled("training/testing")
        self._prepare_for_data(x)
        data = DataHandler(self, x, y, sample_weight, batch_size=_num_samples(x, self),
                           class_weight=class_weight)
        if reset_metrics:
            self.reset_metrics()
        logs = self.make_train_function()(next(data.epoch()), data.y_structure)
        return logs if return_dict else _flatten_logs(logs, self.metrics_names)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        self._assert_compiled("training/testing")
        self._prepare_for_data(x)
        data = DataHandler(self, x, y, sample_weight, batch_size=_num_samples(x, self))
        if reset_metrics:
            self.reset_metrics()
        logs = self.make_test_function()(next(data.epoch()), data.y_structure)
        return logs if return_dict else _flatten_logs(logs, self.metrics_names)


def _distributed(method, model, arguments):
    """Run ``fit``/``evaluate``/``predict`` with the model's ``gk.distribute`` strategy."""
    from graphkeras.distribute import loops
    arguments = dict(arguments)
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return getattr(loops, method)(model._distribute_strategy, model, **arguments)


def _unpack(data):
    from graphkeras.engine.training import unpack_x_y_sample_weight
    return unpack_x_y_sample_weight(data)


def _peek(x):
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return _unpack(x[0])[0]
    raise ValueError("A model without a known input shape cannot be fit on a plain generator; "
                     "build it first (call it on a batch or use an Input).")


def _num_samples(x, model):
    arrays = data_adapter.flatten_inputs(x, model._input_names_for_data(x))
    return max(data_adapter.num_samples(arrays), 1)


def _should_eval(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def _flatten_logs(logs, names):
    values = [logs[n] for n in names if n in logs] or list(logs.values())
    return values[0] if len(values) == 1 else values


def _cast_target(y):
    y = np.asarray(y)
    if y.dtype.kind == "f" and y.dtype != np.float32:
        return y.astype(np.float32)
    if y.dtype.kind == "b":
        return y.astype(np.float32)
    if y.dtype.kind in "ui" and y.dtype not in (np.int32, np.int64):
        return y.astype(np.int64)
    if y.dtype.kind not in "fiub":
        raise ValueError(f"Targets must be numbers; received dtype {y.dtype}.")
    return y


def _require_tvm():
    from graphkeras.runtime.tvm_executor import require_tvm
    require_tvm()  # an ImportError that says `pip install graphkeras[tvm]`
