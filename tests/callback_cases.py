"""Callback scenarios run on tf.keras (to record fixtures) and on graphkeras (to test).

Every scenario drives a callbacks module's ``CallbackList`` with a fake model and
synthetic logs through ``simulate_fit`` / ``simulate_evaluate`` /
``simulate_predict``, which call the hooks in the order tf.keras' ``fit``,
``evaluate`` and ``predict`` do (tests/reference/make_callback_fixtures.py checks
that order against a real tf.keras ``fit``). A scenario returns a JSON-able dict:
what was printed (with a fake clock, so timings are fixed), the learning rates,
the save calls, the files written, ...

``Env`` carries what differs between the two libraries: the callbacks module,
how to make a learning-rate variable, how to patch the progress bar's clock,
and a temporary directory.
"""
from __future__ import annotations

import contextlib
import io
import math
import os

import numpy as np


class Env:
    def __init__(self, cbmod, make_variable, patch_clock, tmpdir):
        self.cb = cbmod
        self.make_variable = make_variable  # value -> variable with .assign/.numpy
        self.patch_clock = patch_clock  # FakeClock -> context manager
        self.tmpdir = str(tmpdir)


class FakeClock:
    def __init__(self, start=1000.0):
        self.now = start

    def time(self):
        return self.now

    def tick(self, seconds):
        self.now += seconds


class Named:
    def __init__(self, name):
        self.name = name


class FakeOptimizer:
    def __init__(self, variable):
        self.learning_rate = variable

    @property
    def lr(self):
        return self.learning_rate


class FakeModel:
    """What callbacks touch on a model: stop_training, weights, optimizer, saving."""

    def __init__(self, env, lr=0.1, metric_names=("loss",)):
        self.stop_training = False
        self.optimizer = FakeOptimizer(env.make_variable(lr))
        self.metrics = [Named(n) for n in metric_names]
        self.weights_value = 0.0
        self.set_weights_calls = []
        self.saves = []
        self.history = None
        self.distribute_strategy = None
        self._distribution_strategy = None
        self.built = True
        self._tmpdir = env.tmpdir

    def get_weights(self):
        return [np.array([self.weights_value], dtype="float32")]

    def set_weights(self, weights):
        self.set_weights_calls.append([float(w[0]) for w in weights])

    def _rel(self, path):
        return os.path.relpath(path, self._tmpdir)

    def save(self, filepath, overwrite=True, **kwargs):
        self.saves.append(["save", self._rel(filepath)])

    def save_weights(self, filepath, overwrite=True, **kwargs):
        self.saves.append(["save_weights", self._rel(filepath)])

    def load_weights(self, filepath, **kwargs):
        self.saves.append(["load_weights", self._rel(filepath)])


def default_train_logs(epoch, step):
    loss = np.float32(1.0 / (epoch + 1) + 0.05 * step)
    return {"loss": loss, "mae": np.float32(loss / 2)}


def default_val_logs(epoch, step):
    loss = np.float32(0.9 / (epoch + 1) + 0.01 * step)
    return {"loss": loss, "mae": np.float32(loss / 3)}


def simulate_fit(env, model, callbacks, epochs=2, steps=3, train_logs=default_train_logs,
                 val_logs=None, val_steps=2, verbose=0, clock=None, step_time=0.25,
                 params=None, initial_epoch=0):
    """Drive a CallbackList as tf.keras' ``fit`` does; returns (callback_list, ran)
    where ``ran`` lists the (epoch, step) pairs trained."""
    cb = env.cb
    if params is None:
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
    cbl = callbacks if isinstance(callbacks, cb.CallbackList) else cb.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, **params)
    clock = clock or FakeClock()
    ran = []
    model.stop_training = False
    cbl.on_train_begin()
    if hasattr(cbl, "_maybe_load_initial_counters"):  # graphkeras' fit does this
        initial_epoch, _ = cbl._maybe_load_initial_counters(steps, initial_epoch)
    training_logs = None
    for epoch in range(initial_epoch, epochs):
        model.weights_value = float(epoch)
        cbl.on_epoch_begin(epoch)
        logs = None
        for step in range(steps if steps is not None else 3):
            cbl.on_train_batch_begin(step)
            clock.tick(step_time)
            logs = train_logs(epoch, step)
            ran.append([epoch, step])
            cbl.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if val_logs is not None:
            cbl.on_test_begin()
            vlogs = None
            for step in range(val_steps):
                cbl.on_test_batch_begin(step)
                clock.tick(step_time / 4)
                vlogs = val_logs(epoch, step)
                cbl.on_test_batch_end(step, vlogs)
            cbl.on_test_end(vlogs)
            epoch_logs.update({"val_" + k: v for k, v in vlogs.items()})
        cbl.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    cbl.on_train_end(logs=training_logs)
    return cbl, ran


def simulate_evaluate(env, model, callbacks, steps=3, logs_fn=default_val_logs, verbose=1,
                      clock=None, step_time=0.25):
    cbl = env.cb.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                              model=model, verbose=verbose, epochs=1, steps=steps)
    clock = clock or FakeClock()
    cbl.on_test_begin()
    logs = None
    for step in range(steps):
        cbl.on_test_batch_begin(step)
        clock.tick(step_time)
        logs = logs_fn(0, step)
        cbl.on_test_batch_end(step, logs)
    cbl.on_test_end(logs)
    return cbl


def simulate_predict(env, model, callbacks, steps=3, verbose=1, clock=None, step_time=0.25):
    cbl = env.cb.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                              model=model, verbose=verbose, epochs=1, steps=steps)
    clock = clock or FakeClock()
    cbl.on_predict_begin()
    for step in range(steps):
        cbl.on_predict_batch_begin(step)
        clock.tick(step_time)
        cbl.on_predict_batch_end(step, {"outputs": np.zeros((2, 1), "float32")})
    cbl.on_predict_end()
    return cbl


@contextlib.contextmanager
def captured():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


def _num(value):
    if value is None:
        return None
    value = float(value)
    return "nan" if math.isnan(value) else ("inf" if math.isinf(value) else value)


def _history(model):
    h = model.history
    return {"epoch": list(h.epoch), "history": {k: [_num(v) for v in vs]
                                                for k, vs in h.history.items()}}


# ---------------------------------------------------------------- hook order
def make_recorders(cbmod, calls):
    """Two callbacks recording hook calls: ``rec`` overrides every hook but the
    ``on_batch_*`` aliases, ``alias`` only those aliases (so the base class's
    ``on_train_batch_*`` -> ``on_batch_*`` forwarding shows)."""
    hooks = ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
             "on_predict_begin", "on_predict_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
             "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]

    def hook_fn(tag, name, takes_index):
        if takes_index:
            def f(self, index, logs=None):
                calls.append([tag, name, index, sorted(logs) if logs is not None else None])
        else:
            def f(self, logs=None):
                calls.append([tag, name, None, sorted(logs) if logs is not None else None])
        return f

    body = {h: hook_fn("rec", h, "batch" in h or "epoch" in h) for h in hooks}
    body["set_model"] = lambda self, m: (calls.append(["rec", "set_model", None, None]),
                                         cbmod.Callback.set_model(self, m))[1]
    body["set_params"] = lambda self, p: (calls.append(["rec", "set_params", None, sorted(p)]),
                                          cbmod.Callback.set_params(self, p))[1]
    Rec = type("Rec", (cbmod.Callback,), body)
    Alias = type("Alias", (cbmod.Callback,), {
        "on_batch_begin": hook_fn("alias", "on_batch_begin", True),
        "on_batch_end": hook_fn("alias", "on_batch_end", True)})
    return [Rec(), Alias()]


def case_hook_order(env):
    calls = []
    model = FakeModel(env, metric_names=("loss", "mae"))
    simulate_fit(env, model, make_recorders(env.cb, calls), epochs=2, steps=2,
                 val_logs=default_val_logs, val_steps=2)
    fit = list(calls)
    calls.clear()
    simulate_evaluate(env, model, make_recorders(env.cb, calls), steps=2, verbose=0)
    evaluate = list(calls)
    calls.clear()
    simulate_predict(env, model, make_recorders(env.cb, calls), steps=2, verbose=0)
    return {"fit": fit, "evaluate": evaluate, "predict": calls}


# ---------------------------------------------------------------- progress bar
def _progbar_case(verbose, epochs=2, steps=3, val=True, step_time=0.3, metric_names=("loss", "mae"),
                  train_logs=default_train_logs, params=None, extra=None, mode="fit"):
    def run(env):
        clock = FakeClock()
        model = FakeModel(env, metric_names=metric_names)
        with env.patch_clock(clock), captured() as out:
            if mode == "fit":
                simulate_fit(env, model, list(extra(env.cb)) if extra else [], epochs=epochs,
                             steps=steps, train_logs=train_logs,
                             val_logs=default_val_logs if val else None, verbose=verbose,
                             clock=clock, step_time=step_time, params=params)
            elif mode == "evaluate":
                simulate_evaluate(env, model, [], steps=steps, verbose=verbose, clock=clock,
                                  step_time=step_time)
            else:
                simulate_predict(env, model, [], steps=steps, verbose=verbose, clock=clock,
                                 step_time=step_time)
        return {"stdout": out.getvalue()}
    return run


def _odd_logs(epoch, step):
    # "acc" is not a model metric: the bar averages it; tiny and negative values
    # switch to exponent format (verbose 1 on |x|, verbose 2 on x).
    return {"loss": np.float32(0.5 - 0.01 * step), "acc": 0.25 * (step % 4),
            "tiny": 1e-5 * (step + 1), "neg": -0.5 + 0.01 * step}


def _sized_logs(epoch, step):
    return {"loss": 0.5 / (step + 1), "size": 4, "num_steps": 1, "batch": step}


CASES = {"hook_order": case_hook_order}
CASES.update({
    "progbar_v1_fit_val": _progbar_case(1),
    "progbar_v1_one_epoch": _progbar_case(1, epochs=1, val=False),
    "progbar_v2_fit_val": _progbar_case(2),
    "progbar_v2_one_epoch": _progbar_case(2, epochs=1, val=False, step_time=1.7),
    "progbar_v1_fast_steps": _progbar_case(1, epochs=1, steps=12, val=False, step_time=0.02,
                                           train_logs=_odd_logs),
    "progbar_v2_odd_values": _progbar_case(2, epochs=1, steps=12, val=False, step_time=0.0004,
                                           train_logs=_odd_logs),
    "progbar_v1_slow_steps": _progbar_case(1, epochs=1, steps=150, val=False, step_time=75.0),
    "progbar_v1_minutes": _progbar_case(1, epochs=1, steps=4, val=False, step_time=40.0),
    "progbar_v1_unknown_steps": _progbar_case(1, epochs=2, steps=None, val=False,
                                              params={"verbose": 1, "epochs": 2}),
    "progbar_v2_unknown_steps": _progbar_case(2, epochs=1, steps=None, val=False,
                                              params={"verbose": 2, "epochs": 1}),
    "progbar_v1_samples": _progbar_case(
        1, epochs=1, steps=3, val=False, train_logs=_sized_logs,
        params={"verbose": 1, "epochs": 1, "samples": 12},
        extra=lambda cb: [cb.ProgbarLogger(count_mode="samples")]),
    "progbar_v1_stateful_arg": _progbar_case(
        1, epochs=1, steps=3, val=False, metric_names=(), train_logs=_odd_logs,
        extra=lambda cb: [cb.ProgbarLogger(count_mode="steps", stateful_metrics=["acc"])]),
    "progbar_v1_evaluate": _progbar_case(1, steps=3, mode="evaluate"),
    "progbar_v2_evaluate": _progbar_case(2, steps=3, mode="evaluate"),
    "progbar_v1_predict": _progbar_case(1, steps=3, mode="predict"),
    "progbar_v2_predict": _progbar_case(2, steps=3, mode="predict"),
})


# ---------------------------------------------------------------- monitors
def _seq_logs(values, key="val_loss"):
    """Train logs plus a validation metric following ``values`` per epoch."""
    def val_logs(epoch, step):
        name = key[4:] if key.startswith("val_") else key
        return {"loss": np.float32(0.5), name: values[epoch]}
    return val_logs


def _early_case(values, key="val_loss", **kwargs):
    def run(env):
        model = FakeModel(env)
        es = env.cb.EarlyStopping(**kwargs)
        with captured() as out:
            _, ran = simulate_fit(env, model, [es], epochs=len(values), steps=1,
                                  val_logs=_seq_logs(values, key), val_steps=1)
        return {"epochs_run": sorted({e for e, _ in ran}), "stopped_epoch": es.stopped_epoch,
                "best": _num(es.best), "best_epoch": es.best_epoch, "wait": es.wait,
                "stop_training": model.stop_training, "set_weights": model.set_weights_calls,
                "stdout": out.getvalue()}
    return run


LOSSES = [0.9, 0.8, 0.85, 0.83, 0.7, 0.75, 0.74, 0.76]
CASES.update({
    "early_default": _early_case(LOSSES),
    "early_patience2": _early_case(LOSSES, patience=2, verbose=1),
    "early_min_delta": _early_case(LOSSES, patience=1, min_delta=0.06, verbose=1),
    "early_restore_best": _early_case(LOSSES, patience=2, restore_best_weights=True, verbose=1),
    "early_restore_no_stop": _early_case([0.9, 0.8, 0.85], patience=5, restore_best_weights=True,
                                         verbose=1),
    "early_baseline": _early_case(LOSSES, patience=3, baseline=0.75, verbose=1),
    "early_baseline_met": _early_case([0.9, 0.6, 0.65, 0.66, 0.67, 0.5], patience=2,
                                      baseline=0.7, restore_best_weights=True),
    "early_start_from_epoch": _early_case([0.5, 0.9, 0.95, 0.97, 0.96, 0.98], patience=1,
                                          start_from_epoch=2, verbose=1,
                                          restore_best_weights=True),
    "early_val_acc_auto_max": _early_case([0.5, 0.6, 0.55, 0.58, 0.7], key="val_acc",
                                          monitor="val_acc", patience=1),
    "early_val_auc_auto_max": _early_case([0.5, 0.6, 0.55, 0.58, 0.7], key="val_auc",
                                          monitor="val_auc", patience=1),
    "early_accuracy_mode_min": _early_case([0.5, 0.6, 0.55, 0.58, 0.7], key="val_accuracy",
                                           monitor="val_accuracy", mode="min", patience=1),
    "early_loss_mode_max": _early_case(LOSSES, mode="max", patience=1),
    "early_bad_mode": _early_case(LOSSES, mode="sideways", patience=1),
    "early_missing_monitor": _early_case(LOSSES, monitor="val_nope", patience=0),
})


class _LrRecorder:
    """Builds a callback recording logs["lr"] at epoch end (after the tested one)."""

    @staticmethod
    def make(cbmod, out):
        def on_epoch_end(self, epoch, logs=None):
            lr = (logs or {}).get("lr")
            out.append([epoch, _num(lr), type(lr).__name__ if lr is not None else None])
        return type("LrRec", (cbmod.Callback,), {"on_epoch_end": on_epoch_end})()


def _lr_value(model):
    value = model.optimizer.learning_rate
    return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value))


def _plateau_case(values, key="val_loss", **kwargs):
    def run(env):
        model = FakeModel(env, lr=0.1)
        seen = []
        rec = _LrRecorder.make(env.cb, seen)
        lrs = []
        track = env.cb.LambdaCallback(on_epoch_begin=lambda e, logs: lrs.append(_lr_value(model)))
        with captured() as out:
            simulate_fit(env, model, [track, env.cb.ReduceLROnPlateau(**kwargs), rec],
                         epochs=len(values), steps=1, val_logs=_seq_logs(values, key),
                         val_steps=1)
        return {"lr_at_epoch_begin": lrs, "logged_lr": seen, "final_lr": _lr_value(model),
                "history_lr": _history(model)["history"].get("lr"), "stdout": out.getvalue()}
    return run


PLATEAU = [0.9, 0.8, 0.85, 0.83, 0.84, 0.79, 0.8, 0.81, 0.82, 0.83]
CASES.update({
    "plateau_patience1": _plateau_case(PLATEAU, factor=0.5, patience=1, verbose=1),
    "plateau_cooldown": _plateau_case(PLATEAU, factor=0.5, patience=1, cooldown=2, verbose=1),
    "plateau_min_lr": _plateau_case(PLATEAU, factor=0.2, patience=1, min_lr=0.01, verbose=1),
    "plateau_min_delta": _plateau_case(PLATEAU, factor=0.5, patience=2, min_delta=0.05),
    "plateau_val_acc": _plateau_case([0.5, 0.6, 0.55, 0.58, 0.61, 0.6], key="val_acc",
                                     monitor="val_acc", factor=0.5, patience=1, verbose=1),
    "plateau_missing": _plateau_case([0.5, 0.4, 0.3], monitor="val_nope", patience=0),
})


def _schedule_case(schedule, epochs=4, verbose=1):
    def run(env):
        model = FakeModel(env, lr=0.1)
        seen = []
        lrs = []
        track = env.cb.LambdaCallback(on_epoch_begin=lambda e, logs: lrs.append(_lr_value(model)))
        try:
            with captured() as out:
                simulate_fit(env, model, [env.cb.LearningRateScheduler(schedule, verbose=verbose),
                                          track, _LrRecorder.make(env.cb, seen)],
                             epochs=epochs, steps=1)
        except ValueError as e:
            return {"error": ["ValueError", str(e)]}
        return {"lr_at_epoch_begin": lrs, "logged_lr": seen, "stdout": out.getvalue(),
                "history_lr": _history(model)["history"].get("lr")}
    return run


CASES.update({
    "schedule_one_arg": _schedule_case(lambda epoch: 0.1 / (epoch + 1)),
    "schedule_two_args": _schedule_case(lambda epoch, lr: lr if epoch < 2 else lr * 0.5),
    "schedule_numpy": _schedule_case(lambda epoch, lr: np.float32(lr * 0.9), verbose=0),
    "schedule_int": _schedule_case(lambda epoch: 1),
})


# ---------------------------------------------------------------- CSV / NaN
def _csv_case(runs, **kwargs):
    """``runs``: list of (epochs, train_logs, val_logs or None) fits on one logger
    (a new CSVLogger per fit, as a user re-running a script would)."""
    def run(env):
        path = os.path.join(env.tmpdir, "log.csv")
        contents = []
        for epochs, train_logs, val_logs in runs:
            model = FakeModel(env)
            logger = env.cb.CSVLogger(path, **kwargs)
            simulate_fit(env, model, [logger], epochs=epochs, steps=2, train_logs=train_logs,
                         val_logs=val_logs)
            with open(path, newline="") as f:
                contents.append(f.read())
        return {"contents": contents}
    return run


def _array_logs(epoch, step):
    return {"loss": 0.5 / (epoch + 1), "vec": np.array([1.5, 2.0 + epoch]), "tag": "x,y",
            "zero_d": np.array(3.25)}


CASES.update({
    "csv_with_val": _csv_case([(2, default_train_logs, default_val_logs)]),
    "csv_without_val": _csv_case([(2, default_train_logs, None)]),
    "csv_separator": _csv_case([(2, default_train_logs, default_val_logs)], separator=";"),
    "csv_append": _csv_case([(2, default_train_logs, None), (1, default_train_logs, None)],
                            append=True),
    "csv_overwrite": _csv_case([(2, default_train_logs, None), (1, default_train_logs, None)]),
    "csv_arrays": _csv_case([(2, _array_logs, None)]),
})


def case_terminate_on_nan(env):
    out_runs = {}
    for bad in ("nan", "inf"):
        def logs(epoch, step, bad=bad):
            value = float(bad) if (epoch, step) == (1, 1) else 0.5
            return {"loss": np.float32(value)}
        model = FakeModel(env)
        with captured() as out:
            _, ran = simulate_fit(env, model, [env.cb.TerminateOnNaN()], epochs=3, steps=3,
                                  train_logs=logs)
        out_runs[bad] = {"ran": ran, "stdout": out.getvalue(),
                         "stop_training": model.stop_training}
    return out_runs


CASES["terminate_on_nan"] = case_terminate_on_nan


# ---------------------------------------------------------------- ModelCheckpoint
def _checkpoint_case(pattern, epochs=None, steps=2, values=(0.5, 0.4, 0.45), key="val_loss",
                     **kwargs):
    epochs = epochs or len(values)

    def run(env):
        model = FakeModel(env)
        filepath = os.path.join(env.tmpdir, pattern)
        try:
            mc = env.cb.ModelCheckpoint(filepath, **kwargs)
            with captured() as out:
                simulate_fit(env, model, [mc], epochs=epochs, steps=steps,
                             val_logs=_seq_logs(list(values), key), val_steps=1)
        except (KeyError, ValueError) as e:
            msg = e.args[0] if isinstance(e, KeyError) else str(e)
            return {"error": [type(e).__name__, msg.replace(env.tmpdir, "<tmp>")],
                    "saves": model.saves}
        return {"saves": model.saves, "best": _num(mc.best),
                "stdout": out.getvalue().replace(env.tmpdir, "<tmp>")}
    return run


CASES.update({
    "ckpt_every_epoch": _checkpoint_case("w-{epoch:02d}-{val_loss:.2f}.h5", verbose=1),
    "ckpt_weights_only": _checkpoint_case("w-{epoch:02d}.weights.h5", save_weights_only=True),
    "ckpt_best_only": _checkpoint_case("best.h5", save_best_only=True, verbose=1,
                                       values=(0.5, 0.4, 0.45, 0.3)),
    "ckpt_best_only_max": _checkpoint_case("best-{epoch}.h5", save_best_only=True, verbose=1,
                                           key="val_acc", monitor="val_acc",
                                           values=(0.5, 0.7, 0.6)),
    "ckpt_best_threshold": _checkpoint_case("best-{epoch}.h5", save_best_only=True,
                                            initial_value_threshold=0.42,
                                            values=(0.5, 0.4, 0.45, 0.3), verbose=1),
    "ckpt_best_missing": _checkpoint_case("best.h5", save_best_only=True, monitor="val_nope"),
    "ckpt_save_freq_int": _checkpoint_case("b-{epoch}-{batch}.h5", steps=4, save_freq=3,
                                           verbose=1),
    "ckpt_save_freq_int_loss": _checkpoint_case("b-{epoch:02d}-{batch:03d}-{loss:.3f}.h5",
                                                steps=4, save_freq=2),
    "ckpt_subdir": _checkpoint_case("sub/dir/e{epoch}.h5", epochs=2),
    "ckpt_bad_key": _checkpoint_case("w-{nope}.h5"),
    "ckpt_bad_save_freq": _checkpoint_case("w.h5", save_freq="batch"),
})
