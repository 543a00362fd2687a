"""gk.callbacks against tf.keras 2.x.

The scenarios of tests/callback_cases.py (fake model, synthetic logs, fake clock)
were run on tf.keras by tests/reference/make_callback_fixtures.py; their results
are in tests/fixtures/callbacks/reference.json and each one must come out the
same on graphkeras: printed text byte for byte (progress bars, "Epoch 1/5",
EarlyStopping / ModelCheckpoint / ReduceLROnPlateau / LearningRateScheduler
messages), learning rates, save calls, CSV files. The tests after that spell
the main behaviours out one by one.
"""
import contextlib
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.callbacks import CallbackList
from graphkeras.utils import progbar as progbar_module

import callback_cases as cc

FIXTURE = Path(__file__).parent / "fixtures" / "callbacks" / "reference.json"
REFERENCE = json.loads(FIXTURE.read_text())["cases"]

# The hooks a real tf.keras 2.x `fit(x, y, epochs=2, batch_size=4,
# validation_data=...)` on 8 samples calls (2 train and 2 validation steps per
# epoch), on a callback overriding every hook ("rec") and on one overriding only
# the on_batch_begin/on_batch_end aliases ("alias"): (callback, hook, epoch or
# batch index, sorted log keys). Printed by make_callback_fixtures.py.
TF_FIT_ORDER = [
    ("rec", "set_model", None, None),
    ("rec", "set_params", None, ["epochs", "steps", "verbose"]),
    ("rec", "on_train_begin", None, []),
    ("rec", "on_epoch_begin", 0, []),
    ("rec", "on_train_batch_begin", 0, []),
    ("alias", "on_batch_begin", 0, []),
    ("rec", "on_train_batch_end", 0, ["loss", "mae"]),
    ("alias", "on_batch_end", 0, ["loss", "mae"]),
    ("rec", "on_train_batch_begin", 1, []),
    ("alias", "on_batch_begin", 1, []),
    ("rec", "on_train_batch_end", 1, ["loss", "mae"]),
    ("alias", "on_batch_end", 1, ["loss", "mae"]),
    ("rec", "on_test_begin", None, []),
    ("rec", "on_test_batch_begin", 0, []),
    ("rec", "on_test_batch_end", 0, ["loss", "mae"]),
    ("rec", "on_test_batch_begin", 1, []),
    ("rec", "on_test_batch_end", 1, ["loss", "mae"]),
    ("rec", "on_test_end", None, ["loss", "mae"]),
    ("rec", "on_epoch_end", 0, ["loss", "mae", "val_loss", "val_mae"]),
    ("rec", "on_epoch_begin", 1, []),
    ("rec", "on_train_batch_begin", 0, []),
    ("alias", "on_batch_begin", 0, []),
    ("rec", "on_train_batch_end", 0, ["loss", "mae"]),
    ("alias", "on_batch_end", 0, ["loss", "mae"]),
    ("rec", "on_train_batch_begin", 1, []),
    ("alias", "on_batch_begin", 1, []),
    ("rec", "on_train_batch_end", 1, ["loss", "mae"]),
    ("alias", "on_batch_end", 1, ["loss", "mae"]),
    ("rec", "on_test_begin", None, []),
    ("rec", "on_test_batch_begin", 0, []),
    ("rec", "on_test_batch_end", 0, ["loss", "mae"]),
    ("rec", "on_test_batch_begin", 1, []),
    ("rec", "on_test_batch_end", 1, ["loss", "mae"]),
    ("rec", "on_test_end", None, ["loss", "mae"]),
    ("rec", "on_epoch_end", 1, ["loss", "mae", "val_loss", "val_mae"]),
    ("rec", "on_train_end", None, ["loss", "mae", "val_loss", "val_mae"]),
]
TF_EVALUATE_ORDER = [
    ("rec", "set_model", None, None),
    ("rec", "set_params", None, ["epochs", "steps", "verbose"]),
    ("rec", "on_test_begin", None, []),
    ("rec", "on_test_batch_begin", 0, []),
    ("rec", "on_test_batch_end", 0, ["loss", "mae"]),
    ("rec", "on_test_batch_begin", 1, []),
    ("rec", "on_test_batch_end", 1, ["loss", "mae"]),
    ("rec", "on_test_end", None, ["loss", "mae"]),
]
TF_PREDICT_ORDER = [
    ("rec", "set_model", None, None),
    ("rec", "set_params", None, ["epochs", "steps", "verbose"]),
    ("rec", "on_predict_begin", None, []),
    ("rec", "on_predict_batch_begin", 0, []),
    ("rec", "on_predict_batch_end", 0, ["outputs"]),
    ("rec", "on_predict_batch_begin", 1, []),
    ("rec", "on_predict_batch_end", 1, ["outputs"]),
    ("rec", "on_predict_end", None, []),
]


@contextlib.contextmanager
def patch_clock(clock):
    saved = progbar_module.time
    progbar_module.time = clock
    try:
        yield
    finally:
        progbar_module.time = saved


def make_env(tmp_path):
    return cc.Env(gk.callbacks, lambda v: gk.Variable(np.float32(v), "learning_rate"),
                  patch_clock, tmp_path)


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def _as_tuples(calls):
    return [tuple(c) for c in calls]


# ------------------------------------------------------------------ fixtures
def test_hook_order_is_tf_keras_fit_evaluate_predict(env):
    got = cc.case_hook_order(env)
    assert _as_tuples(got["fit"]) == TF_FIT_ORDER
    assert _as_tuples(got["evaluate"]) == TF_EVALUATE_ORDER
    assert _as_tuples(got["predict"]) == TF_PREDICT_ORDER
    assert _as_tuples(REFERENCE["hook_order"]["fit"]) == TF_FIT_ORDER


@pytest.mark.parametrize("name", [n for n in cc.CASES if n != "hook_order"])
def test_matches_tf_keras(name, env):
    got = json.loads(json.dumps(cc.CASES[name](env)))
    assert got == REFERENCE[name]


# ------------------------------------------------------------------ CallbackList
class Recorder(gk.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((epoch, logs))


def test_callback_list_adds_history_and_progbar_once(env):
    model = cc.FakeModel(env)
    cbl = CallbackList(None, add_history=True, add_progbar=True, model=model,
                       verbose=1, epochs=1, steps=2)
    kinds = [type(c).__name__ for c in cbl.callbacks]
    assert kinds == ["History", "ProgbarLogger"]
    assert model.history is cbl.callbacks[0]
    assert cbl.callbacks[1].use_steps  # the list's own bar counts steps
    for cb in cbl.callbacks:
        assert cb.model is model and cb.params == {"verbose": 1, "epochs": 1, "steps": 2}
    history = gk.callbacks.History()
    cbl = CallbackList([[Recorder()], history], add_history=True, add_progbar=False, model=model)
    assert [type(c).__name__ for c in cbl.callbacks] == ["Recorder", "History"]
    assert cbl.callbacks[1] is history and model.history is history


def test_logs_become_python_numbers(env):
    rec = Recorder()
    cbl = CallbackList([rec], model=cc.FakeModel(env))
    vec = np.arange(3.0)
    cbl.on_epoch_end(0, {"loss": np.float32(0.5), "n": np.array(3), "vec": vec, "f": 1.5})
    logs = rec.seen[0][1]
    assert type(logs["loss"]) is float and logs["loss"] == 0.5
    assert type(logs["n"]) is int and logs["f"] == 1.5
    np.testing.assert_array_equal(logs["vec"], vec)
    cbl.on_epoch_end(1)
    assert rec.seen[1] == (1, {})


def test_batch_hooks_skipped_when_no_callback_overrides_them(env):
    calls = []
    lam = gk.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: calls.append(e))
    cbl = CallbackList([lam], model=cc.FakeModel(env), verbose=2, epochs=1, steps=1)
    assert not cbl._should_call_train_batch_hooks
    assert not cbl._should_call_test_batch_hooks
    lam2 = gk.callbacks.LambdaCallback(on_batch_end=lambda b, logs: calls.append(("b", b)))
    cbl = CallbackList([lam2], model=cc.FakeModel(env))
    assert cbl._should_call_train_batch_hooks and not cbl._should_call_predict_batch_hooks
    cbl.on_train_batch_end(4, {"loss": 1.0})
    assert calls == [("b", 4)]


def test_history_records_epochs_and_sets_model_history(env):
    model = cc.FakeModel(env)
    cbl, _ = cc.simulate_fit(env, model, [], epochs=3, steps=2, val_logs=cc.default_val_logs)
    history = model.history
    assert isinstance(history, gk.callbacks.History)
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(type(v) is float for v in history.history["loss"])
    assert history.history["loss"][0] == pytest.approx(1.05)
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}


def test_lambda_callback_extra_hooks(env):
    seen = []
    lam = gk.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                      on_train_end=lambda logs: seen.append("end"),
                                      on_test_end=lambda logs: seen.append("test_end"))
    cc.simulate_fit(env, cc.FakeModel(env), [lam], epochs=1, steps=1,
                    val_logs=cc.default_val_logs)
    assert seen == ["begin", "test_end", "end"]


# ------------------------------------------------------------------ ProgbarLogger
def _fit_output(env, capsys, verbose, epochs=2, steps=3, val=True):
    clock = cc.FakeClock()
    with patch_clock(clock):
        cc.simulate_fit(env, cc.FakeModel(env, metric_names=("loss", "mae")), [],
                        epochs=epochs, steps=steps, verbose=verbose, clock=clock,
                        step_time=0.3, val_logs=cc.default_val_logs if val else None)
    return capsys.readouterr().out


def test_progbar_verbose_2_text(env, capsys):
    out = _fit_output(env, capsys, 2)
    assert out == (
        "Epoch 1/2\n"
        "3/3 - 1s - loss: 1.1000 - mae: 0.5500 - val_loss: 0.9100 - val_mae: 0.3033"
        " - 1s/epoch - 350ms/step\n"
        "Epoch 2/2\n"
        "3/3 - 1s - loss: 0.6000 - mae: 0.3000 - val_loss: 0.4600 - val_mae: 0.1533"
        " - 1s/epoch - 350ms/step\n")
    assert out == REFERENCE["progbar_v2_fit_val"]["stdout"]


def test_progbar_verbose_1_text(env, capsys):
    out = _fit_output(env, capsys, 1, epochs=1, val=False)
    assert out == REFERENCE["progbar_v1_one_epoch"]["stdout"]
    # What a terminal shows: each redraw replaces the line; the last one stays.
    frames = [f.rstrip("\b ") for f in out.split("\r")[1:]]
    assert frames[0] == ("1/3 [=========>....................] - ETA: 0s - loss: 1.0000"
                         " - mae: 0.5000")
    assert frames[1] == ("2/3 [===================>..........] - ETA: 0s - loss: 1.0500"
                         " - mae: 0.5250")
    assert out.endswith("3/3 [==============================] - 1s 300ms/step - loss: 1.1000"
                        " - mae: 0.5500\n")
    assert "Epoch" not in out  # one epoch: no header


def test_progbar_validation_in_fit_is_silent_and_shows_val_metrics(env, capsys):
    out = _fit_output(env, capsys, 1)
    assert out.count("Epoch 1/2\n") == 1 and out.count("Epoch 2/2\n") == 1
    last = out.split("\r")[-1]
    # 375ms/step: the epoch's time includes its validation (0.15s), over 2 steps after the first
    assert last == ("3/3 [==============================] - 1s 375ms/step - loss: 0.6000 - mae: "
                    "0.3000 - val_loss: 0.4600 - val_mae: 0.1533\n")


def test_progbar_count_mode_validation():
    with pytest.raises(ValueError, match=r"Unknown `count_mode`: rows"):
        gk.callbacks.ProgbarLogger(count_mode="rows")
    assert not gk.callbacks.ProgbarLogger().use_steps  # tf.keras' default is "samples"


# ------------------------------------------------------------------ EarlyStopping
def _early(env, values, key="val_loss", **kwargs):
    model = cc.FakeModel(env)
    es = gk.callbacks.EarlyStopping(**kwargs)
    _, ran = cc.simulate_fit(env, model, [es], epochs=len(values), steps=1,
                             val_logs=cc._seq_logs(values, key), val_steps=1)
    return es, model, sorted({e for e, _ in ran})


def test_early_stopping_patience(env):
    es, model, epochs = _early(env, [0.9, 0.8, 0.85, 0.83, 0.7], patience=2)
    assert epochs == [0, 1, 2, 3] and es.stopped_epoch == 3 and model.stop_training
    assert es.best == 0.8 and es.best_epoch == 1
    es, _, epochs = _early(env, [0.9, 0.8, 0.85, 0.83, 0.7], patience=0)
    assert epochs == [0, 1, 2]


def test_early_stopping_mode_inferred_from_name(env):
    for monitor in ("val_acc", "val_accuracy", "val_auc", "acc"):
        assert gk.callbacks.EarlyStopping(monitor=monitor).monitor_op is np.greater
    for monitor in ("val_loss", "val_mae", "val_acc_loss"):
        assert gk.callbacks.EarlyStopping(monitor=monitor).monitor_op is np.less
    es, _, epochs = _early(env, [0.5, 0.6, 0.55, 0.7], key="val_acc", monitor="val_acc")
    assert epochs == [0, 1, 2] and es.best == 0.6


def test_early_stopping_baseline_and_restore(env, capsys):
    values = [0.9, 0.8, 0.85, 0.83, 0.7]
    es, _, epochs = _early(env, values, patience=2)
    assert epochs == [0, 1, 2, 3]
    # Improvements that do not beat the baseline still count against patience.
    es, model, epochs = _early(env, values, patience=2, baseline=0.5,
                               restore_best_weights=True, verbose=1)
    assert epochs == [0, 1, 2] and es.stopped_epoch == 2
    assert model.set_weights_calls == [[1.0]]  # the best epoch's weights (epoch 1)
    assert capsys.readouterr().out == ("Epoch 3: early stopping\n"
                                       "Restoring model weights from the end of the best "
                                       "epoch: 2.\n")


def test_early_stopping_start_from_epoch(env):
    es, _, epochs = _early(env, [0.1, 0.9, 0.95, 0.97, 0.96], patience=1, start_from_epoch=2)
    assert epochs == [0, 1, 2, 3] and es.best == 0.95 and es.best_epoch == 2


def test_early_stopping_missing_metric_warns(env, caplog):
    with caplog.at_level(logging.WARNING):
        _, model, epochs = _early(env, [0.5, 0.6, 0.7], monitor="val_nope")
    assert epochs == [0, 1, 2] and not model.stop_training
    assert ("Early stopping conditioned on metric `val_nope` which is not available. "
            "Available metrics are: loss,mae,val_loss") in caplog.text


# ------------------------------------------------------------------ learning rate
def test_reduce_lr_on_plateau(env, capsys):
    model = cc.FakeModel(env, lr=0.1)
    rl = gk.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.03, verbose=1)
    cc.simulate_fit(env, model, [rl], epochs=8, steps=1, val_steps=1,
                    val_logs=cc._seq_logs([1.0, 0.9, 0.95, 0.93, 0.92, 0.94, 0.96, 0.97]))
    assert cc._lr_value(model) == pytest.approx(0.03)
    assert model.history.history["lr"] == pytest.approx([0.1] * 4 + [0.05] * 2 + [0.03] * 2)
    assert type(model.history.history["lr"][0]) is np.float32  # as tf.keras' get_value
    assert capsys.readouterr().out == (
        "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
        "\nEpoch 6: ReduceLROnPlateau reducing learning rate to 0.03.\n")
    with pytest.raises(ValueError, match="does not support a factor >= 1.0. Got 1.5"):
        gk.callbacks.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_sets_plain_float_attribute(env):
    class Opt:
        learning_rate = 0.2

    model = cc.FakeModel(env)
    model.optimizer = Opt()
    rl = gk.callbacks.ReduceLROnPlateau(factor=0.5, patience=0)
    cc.simulate_fit(env, model, [rl], epochs=2, steps=1, val_steps=1,
                    val_logs=cc._seq_logs([1.0, 1.0]))
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_with_real_optimizer(env):
    model = cc.FakeModel(env)
    model.optimizer = gk.optimizers.SGD(learning_rate=0.4)
    rl = gk.callbacks.ReduceLROnPlateau(factor=0.5, patience=0)
    cc.simulate_fit(env, model, [rl], epochs=3, steps=1, val_steps=1,
                    val_logs=cc._seq_logs([1.0, 1.0, 1.0]))
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.1)


def test_learning_rate_scheduler(env, capsys):
    model = cc.FakeModel(env, lr=0.1)
    lrs = []
    track = gk.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: lrs.append(cc._lr_value(model)))
    sched = gk.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr,
                                               verbose=1)
    cc.simulate_fit(env, model, [sched, track], epochs=3, steps=1)
    assert lrs == pytest.approx([0.1, 0.05, 0.025])
    assert model.history.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05000000074505806.\n" \
        in capsys.readouterr().out
    model = cc.FakeModel(env, lr=0.1)
    cc.simulate_fit(env, model, [gk.callbacks.LearningRateScheduler(lambda e: 0.01 * (e + 1))],
                    epochs=2, steps=1)
    assert cc._lr_value(model) == pytest.approx(0.02)
    with pytest.raises(ValueError, match='The output of the "schedule" function should be float'):
        cc.simulate_fit(env, cc.FakeModel(env),
                        [gk.callbacks.LearningRateScheduler(lambda e: "fast")], epochs=1)


# ------------------------------------------------------------------ CSV / NaN
def test_csv_logger_contents(env, tmp_path):
    path = tmp_path / "log.csv"
    cc.simulate_fit(env, cc.FakeModel(env), [gk.callbacks.CSVLogger(path, separator=";")],
                    epochs=2, steps=1, val_logs=cc.default_val_logs, val_steps=1)
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[0] == "epoch;loss;mae;val_loss;val_mae"
    assert lines[1].startswith("0;1.0;0.5;0.8999999761581421;")
    assert lines[2].startswith("1;0.5;0.25;") and lines[3] == ""
    cc.simulate_fit(env, cc.FakeModel(env), [gk.callbacks.CSVLogger(path, separator=";",
                                                                     append=True)],
                    epochs=1, steps=1, val_logs=cc.default_val_logs, val_steps=1)
    lines = path.read_bytes().decode().split("\r\n")
    assert len(lines) == 5 and lines[3].startswith("0;1.0;") and lines[0].startswith("epoch")


def test_terminate_on_nan(env, capsys):
    model = cc.FakeModel(env)
    logs = lambda e, s: {"loss": np.float32("nan") if s == 2 else np.float32(1.0)}  # noqa: E731
    _, ran = cc.simulate_fit(env, model, [gk.callbacks.TerminateOnNaN()], epochs=3, steps=5,
                             train_logs=logs)
    assert ran == [[0, 0], [0, 1], [0, 2]] and model.stop_training
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    assert model.history.epoch == [0]


# ------------------------------------------------------------------ ModelCheckpoint
def _checkpoint(env, pattern, values, key="val_loss", epochs=None, steps=1, **kwargs):
    model = cc.FakeModel(env)
    mc = gk.callbacks.ModelCheckpoint(os.path.join(env.tmpdir, pattern), **kwargs)
    cc.simulate_fit(env, model, [mc], epochs=epochs or len(values), steps=steps,
                    val_logs=cc._seq_logs(values, key), val_steps=1)
    return model.saves, mc


def test_model_checkpoint_file_names(env):
    saves, _ = _checkpoint(env, "w-{epoch:02d}-{val_loss:.2f}.h5", [0.512, 0.4])
    assert saves == [["save", "w-01-0.51.h5"], ["save", "w-02-0.40.h5"]]
    saves, _ = _checkpoint(env, "{epoch}.weights.h5", [0.5], save_weights_only=True)
    assert saves == [["save_weights", "1.weights.h5"]]


def test_model_checkpoint_save_best_only(env, caplog):
    saves, mc = _checkpoint(env, "best.h5", [0.5, 0.6, 0.3, 0.4], save_best_only=True)
    assert saves == [["save", "best.h5"], ["save", "best.h5"]] and mc.best == 0.3
    saves, mc = _checkpoint(env, "b{epoch}.h5", [0.5, 0.6, 0.3], key="val_acc",
                            monitor="val_acc", save_best_only=True)
    assert saves == [["save", "b1.h5"], ["save", "b2.h5"]] and mc.monitor_op is np.greater
    with caplog.at_level(logging.WARNING):
        saves, _ = _checkpoint(env, "best.h5", [0.5], monitor="val_x", save_best_only=True)
    assert saves == [] and "Can save best model only with val_x available, skipping." \
        in caplog.text


def test_model_checkpoint_save_freq_int(env):
    # every 3 batches over 2 epochs of 4 batches: after batches 3 and 6 (epoch 2, batch 2)
    saves, _ = _checkpoint(env, "e{epoch}-b{batch}.h5", [0.5, 0.4], steps=4, save_freq=3)
    assert saves == [["save", "e1-b3.h5"], ["save", "e2-b2.h5"]]
    with pytest.raises(ValueError, match="Unrecognized save_freq: batch"):
        gk.callbacks.ModelCheckpoint("x.h5", save_freq="batch")


# ------------------------------------------------------------------ BackupAndRestore
class Interrupt(gk.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("Interrupting!")


def test_backup_and_restore_resumes_after_last_finished_epoch(env, tmp_path):
    backup = str(tmp_path / "backup")
    model = cc.FakeModel(env)
    bar = gk.callbacks.BackupAndRestore(backup)
    with pytest.raises(RuntimeError, match="Interrupting"):
        cc.simulate_fit(env, model, [bar, Interrupt(4)], epochs=10, steps=2)
    with open(os.path.join(backup, "training_state.json")) as f:
        assert json.load(f) == {"epoch": 3, "batch": -1}
    assert model.saves[-1] == ["save_weights", "backup/checkpoint.weights.h5"]
    assert len([s for s in model.saves if s[0] == "save_weights"]) == 4

    model2 = cc.FakeModel(env)
    _, ran = cc.simulate_fit(env, model2, [gk.callbacks.BackupAndRestore(backup)],
                             epochs=10, steps=2)
    assert model2.saves[0] == ["load_weights", "backup/checkpoint.weights.h5"]
    assert len(model2.history.history["loss"]) == 6  # epochs 4..9, as tf.keras' doc example
    assert ran[0] == [4, 0]
    assert not os.path.exists(backup)  # deleted after a finished fit

    model3 = cc.FakeModel(env)
    _, ran = cc.simulate_fit(env, model3, [gk.callbacks.BackupAndRestore(backup)],
                             epochs=2, steps=1)
    assert model3.saves[0][0] == "save_weights" and ran == [[0, 0], [1, 0]]  # nothing to restore


def test_backup_and_restore_batch_level_and_keep_checkpoint(env, tmp_path):
    backup = str(tmp_path / "b")
    bar = gk.callbacks.BackupAndRestore(backup, save_freq=2, delete_checkpoint=False)
    assert bar._implements_train_batch_hooks()
    model = cc.FakeModel(env)
    cbl = CallbackList([bar], model=model)
    cbl.on_train_begin()
    assert cbl._maybe_load_initial_counters(5, 0) == (0, 0)
    cbl.on_epoch_begin(0)
    for batch in range(3):
        cbl.on_train_batch_begin(batch)
        cbl.on_train_batch_end(batch, {"loss": 1.0})
    with open(os.path.join(backup, "training_state.json")) as f:
        assert json.load(f) == {"epoch": 0, "batch": 1}
    # A new fit resumes at the batch after the backup ...
    cbl2 = CallbackList([gk.callbacks.BackupAndRestore(backup, save_freq=2)], model=model)
    cbl2.on_train_begin()
    assert cbl2._maybe_load_initial_counters(5, 0) == (0, 2)
    # ... or at the next epoch when the backup was the epoch's last batch.
    assert cbl2._maybe_load_initial_counters(2, 0) == (1, 0)
    cbl2.on_train_end()
    assert not os.path.exists(backup)
    with pytest.raises(ValueError, match="Either `save_freq` or `save_before_preemption`"):
        gk.callbacks.BackupAndRestore(backup, save_freq=False)


def test_callback_list_without_backup_keeps_initial_epoch(env):
    cbl = CallbackList([Recorder()], model=cc.FakeModel(env))
    assert cbl._maybe_load_initial_counters(10, 3) == (3, 0)


def test_exports():
    names = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
             "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
             "TerminateOnNaN", "LambdaCallback", "BackupAndRestore"]
    for name in names:
        assert isinstance(getattr(gk.callbacks, name), type)
    assert not hasattr(gk.callbacks, "RemoteMonitor")
    assert math.isinf(gk.callbacks.ModelCheckpoint("x.h5").best)


# ------------------------------------------------------------------ real loops
class _Recorder(gk.callbacks.Callback):
    """Records hooks like make_callback_fixtures.py's "rec" callback."""

    def __init__(self, calls, tag="rec"):
        super().__init__()
        self.calls, self.tag = calls, tag

    def set_model(self, model):
        super().set_model(model)
        self.calls.append((self.tag, "set_model", None, None))

    def set_params(self, params):
        super().set_params(params)
        self.calls.append((self.tag, "set_params", None, sorted(params)))


def _hook(name):
    def record(self, *args, **kwargs):
        # epoch/batch hooks get (index, logs); the others get (logs)
        index = args[0] if args and isinstance(args[0], int) else None
        logs = kwargs.get("logs", args[-1] if args and not isinstance(args[-1], int) else None)
        self.calls.append((self.tag, name, index, sorted(logs or {})))
    return record


for _name in ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
              "on_predict_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
              "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
              "on_predict_batch_begin", "on_predict_batch_end"]:
    setattr(_Recorder, _name, _hook(_name))


class _Alias(gk.callbacks.Callback):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("alias", "on_batch_begin", batch, sorted(logs or {})))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("alias", "on_batch_end", batch, sorted(logs or {})))


def _real_model():
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


def test_real_fit_evaluate_predict_call_hooks_in_tf_keras_order():
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3), dtype=np.float32), rng.random((8, 2), dtype=np.float32)
    model = _real_model()
    calls = []
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y), verbose=0,
              callbacks=[_Recorder(calls), _Alias(calls)])
    assert calls == TF_FIT_ORDER
    calls.clear()
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[_Recorder(calls)])
    assert calls == TF_EVALUATE_ORDER
    calls.clear()
    model.predict(x, batch_size=4, verbose=0, callbacks=[_Recorder(calls)])
    assert calls == TF_PREDICT_ORDER
