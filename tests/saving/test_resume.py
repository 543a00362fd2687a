"""Exact resume after a crash: ``BackupAndRestore`` and ``ModelCheckpoint``.

The crash tests run a small training script in a subprocess (an MLP with Dropout,
shuffled data, Adam: 4 epochs of 6 batches), kill it with SIGKILL at chosen points
(between batches, at an epoch's end, after training, and in the middle of writing a
backup) and at racy points (right after the k-th progress line, wherever the script
then is), restart it until it completes, and check that the final weights equal an
uninterrupted run's bit for bit, and that every batch the resumed runs trained
logged the same loss and metric values (the running means of the epoch: metric state)
as the uninterrupted run did.

The script announces every point it passes (``begin:e:b``, ``end:e:b``,
``after:e:b``, ``epoch_end:e``, ``save:e:b:<member>`` while a backup's zip is being
written, ``train_end``); ``GK_PAUSE_AT`` makes it stop at one of them (it prints
``PAUSED`` and sleeps), so the kill lands exactly there.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.saving import native

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r'''
import json, os, sys, time
import numpy as np
import graphkeras as gk
from graphkeras.saving import native

out, mode = sys.argv[1], sys.argv[2]
pause_at = os.environ.get("GK_PAUSE_AT")
where = [0, 0]


def point(tag):
    print(tag, flush=True)
    if tag == pause_at:
        print("PAUSED", flush=True)
        time.sleep(120)


_put = native._ZipWriter._put


def put(self, name, data, compress):  # a pause point after each member of a zip written
    crc = _put(self, name, data, compress)
    self.zf.fp.flush()
    point(f"save:{where[0]}:{where[1]}:{name}")
    return crc


native._ZipWriter._put = put


class Progress(gk.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.log = open(os.path.join(out, "log.jsonl"), "a")

    def on_epoch_begin(self, epoch, logs=None):
        where[0] = epoch

    def on_train_batch_begin(self, batch, logs=None):
        where[1] = batch
        point(f"begin:{where[0]}:{batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.log.write(json.dumps([where[0], batch, logs["loss"], logs["mae"]]) + "\n")
        self.log.flush()
        point(f"end:{where[0]}:{batch}")

    def on_epoch_end(self, epoch, logs=None):
        point(f"epoch_end:{epoch}")

    def on_train_end(self, logs=None):
        point("train_end")


class After(gk.callbacks.Callback):
    def on_train_begin(self, logs=None):
        print(f"start:{int(self.model.optimizer.iterations.numpy())}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        point(f"after:{where[0]}:{batch}")


gk.utils.set_random_seed(123)
data = np.random.RandomState(0)
x = data.rand(48, 8).astype("float32")
y = (x @ data.rand(8, 1) + 0.1 * data.rand(48, 1)).astype("float32")
model = gk.Sequential([gk.layers.Dense(16, activation="relu", input_shape=(8,)),
                       gk.layers.Dropout(0.25), gk.layers.Dense(1)])
model.compile(gk.optimizers.Adam(0.01), "mse", metrics=["mae"])
if mode == "int":
    saver = gk.callbacks.BackupAndRestore(os.path.join(out, "backup"), save_freq=2)
elif mode == "epoch":
    saver = gk.callbacks.BackupAndRestore(os.path.join(out, "backup"))
elif mode == "checkpoint":
    saver = gk.callbacks.ModelCheckpoint(os.path.join(out, "ckpt.keras"), save_freq=2,
                                         load_weights_on_restart=True)
else:
    saver = gk.callbacks.Callback()
model.fit(x, y, batch_size=8, epochs=4, shuffle=True, verbose=0,
          callbacks=[Progress(), saver, After()])
np.savez(os.path.join(out, "final.npz"), *model.get_weights())
print("done", flush=True)
'''


def _run(folder, mode, pause_at=None, kill_after=None):
    """Run the script once; kill it at ``pause_at`` (a point name) or right after its
    ``kill_after``-th ``end:`` line. Returns its output lines and whether it was killed."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    env.pop("GK_PAUSE_AT", None)
    if pause_at:
        env["GK_PAUSE_AT"] = pause_at
    proc = subprocess.Popen([sys.executable, str(folder / "script.py"), str(folder), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(folder))
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    lines, killed, ends = [], False, 0
    try:
        for line in proc.stdout:
            line = line.strip()
            lines.append(line)
            ends += line.startswith("end:")
            if line == "PAUSED" or (kill_after is not None and ends == kill_after):
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
    finally:
        watchdog.cancel()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    # (a racy kill may come after the script finished)
    killed = proc.returncode == -signal.SIGKILL
    assert killed or proc.returncode == 0, f"script failed:\n{stderr}"
    return lines, killed


def _final(folder):
    with np.load(folder / "final.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def _logs(folder):
    with open(folder / "log.jsonl") as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run: its final weights and the logs of its 24 batches."""
    folder = tmp_path_factory.mktemp("reference")
    (folder / "script.py").write_text(SCRIPT)
    lines, killed = _run(folder, "none")
    assert not killed and lines[-1] == "done"
    logs = {(e, b): (loss, mae) for e, b, loss, mae in _logs(folder)}
    assert len(logs) == 24
    return _final(folder), logs


def _chain(tmp_path, mode, kills, reference):
    """Run the script, killed at each of ``kills`` in turn (a point name, or an int: after
    that many ``end:`` lines), then once more to the end. Returns the iteration count
    each run started from (its restored optimizer's ``iterations``)."""
    (tmp_path / "script.py").write_text(SCRIPT)
    starts, saw_temporary = [], []
    for kill in kills + [None]:
        lines, killed = _run(tmp_path, mode, pause_at=kill if isinstance(kill, str) else None,
                             kill_after=kill if isinstance(kill, int) else None)
        starts.append(int(next(line for line in lines if line.startswith("start:"))[6:]))
        if isinstance(kill, int) and not killed:
            break  # the script ended before the racy kill reached it
        assert killed == (kill is not None), (kill, lines[-3:])
        assert ("PAUSED" in lines) == isinstance(kill, str)
        if isinstance(kill, str) and kill.startswith("save:"):
            # the kill landed mid-write: an unfinished temporary file, the backup intact
            names = os.listdir(tmp_path / ("." if mode == "checkpoint" else "backup"))
            saw_temporary.append(any(n.startswith(".tmp-") for n in names))
    assert lines[-1] == "done"
    assert all(saw_temporary)
    weights, logs = reference
    final = _final(tmp_path)
    assert len(final) == len(weights)
    for got, want in zip(final, weights):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # every batch trained in any run logged the uninterrupted run's running means
    for e, b, loss, mae in _logs(tmp_path):
        assert (loss, mae) == logs[(e, b)], (e, b)
    return starts


def test_backup_every_2_batches_killed_at_chosen_points(tmp_path, reference):
    kills = ["end:0:0",                 # before the first backup: starts over
             "after:0:1",               # right after a backup
             "save:0:3:weights.h5",     # mid-save: the previous backup is used
             "end:1:2",                 # mid-epoch, between backups
             "begin:1:4",
             "save:2:1:optimizer.h5",   # mid-save
             "epoch_end:2",             # the epoch's last backup done, its end not
             "save:3:5:metadata.json",  # mid-save, the last member written
             "train_end"]               # training done, backup not deleted yet
    starts = _chain(tmp_path, "int", kills, reference)
    assert starts == [0, 0, 2, 2, 8, 10, 12, 18, 22, 24]
    assert not os.path.exists(tmp_path / "backup")  # deleted by the run that finished


def test_backup_every_2_batches_killed_at_racy_points(tmp_path, reference):
    # killed as soon as the k-th batch of the run ended: wherever the script then is
    kills = [3, 7, 5, 1]
    starts = _chain(tmp_path, "int", kills, reference)
    assert starts[0] == 0
    for k, start, restart in zip(kills, starts, starts[1:]):
        # from at least the last backup (every 2 batches) before the k-th batch's end
        assert start + k - k % 2 <= restart <= 24


def test_backup_every_epoch_killed(tmp_path, reference):
    kills = ["end:1:3", "save:2:5:rng.h5", "begin:3:0"]
    assert _chain(tmp_path, "epoch", kills, reference) == [0, 6, 12, 18]


def test_model_checkpoint_resumes_from_its_file(tmp_path, reference):
    kills = ["end:1:2", "save:2:3:weights.h5", "after:3:1"]
    assert _chain(tmp_path, "checkpoint", kills, reference) == [0, 8, 14, 20]


# ------------------------------------------------------------------ the pieces
def _model(seed=3):
    gk.utils.set_random_seed(seed)
    model = gk.Sequential([gk.layers.Dense(4, activation="relu", input_shape=(3,)),
                           gk.layers.Dropout(0.5), gk.layers.Dense(1)])
    model.compile(gk.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


def _data():
    r = np.random.RandomState(1)
    return r.rand(20, 3).astype("float32"), r.rand(20, 1).astype("float32")


def test_state_file_round_trip(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    native.save_state(model, tmp_path / "s.zip", {"epoch": 0, "batch": 3})
    other = _model(seed=9)
    other.fit(x[:5], y[:5], batch_size=5, epochs=1, verbose=0)  # its metrics exist
    state, metrics = native.restore_state(other, tmp_path / "s.zip")
    assert state == {"epoch": 0, "batch": 3}
    for a, b in zip(model.weights, other.weights):
        assert np.array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.optimizer.variables, other.optimizer.variables):
        assert np.array_equal(a.numpy(), b.numpy())
    gen, other_gen = model.layers[1]._rng, other.layers[1]._rng
    assert (gen.seed, int(gen.state.numpy())) == (other_gen.seed, int(other_gen.state.numpy()))
    assert int(gen.state.numpy()) == 4  # one draw per batch
    assert set(metrics) == {"loss/total", "loss/count", "mae/total", "mae/count"}
    assert native.assign_metric_state(other, metrics)
    assert other.get_metrics_result() == model.get_metrics_result()
    assert not native.assign_metric_state(other, {"loss/total": np.float32(1)})
    # a state file holds no config: it is not a model file
    with pytest.raises(ValueError, match="config.json"):
        gk.models.load_model(tmp_path / "s.zip")


def test_restore_state_refuses_another_model_and_assigns_nothing(tmp_path):
    model = _model()
    native.save_state(model, tmp_path / "s.zip", None)
    gk.utils.set_random_seed(4)
    other = gk.Sequential([gk.layers.Dense(5, input_shape=(3,)), gk.layers.Dropout(0.5),
                           gk.layers.Dense(1)])
    before = [w.numpy().copy() for w in other.weights]
    with pytest.raises(ValueError, match="shape"):
        native.restore_state(other, tmp_path / "s.zip")
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, other.weights))
    with pytest.raises(ValueError, match="random generators"):
        native.restore_state(gk.Sequential([gk.layers.Dense(4, input_shape=(3,)),
                                            gk.layers.Dense(1)]), tmp_path / "s.zip")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError):
        native.restore_state(model, tmp_path / "bad.zip")


def test_model_checkpoint_native_file_holds_training_state(tmp_path):
    x, y = _data()
    model = _model()
    path = tmp_path / "m.keras"
    model.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=True,
              callbacks=[gk.callbacks.ModelCheckpoint(str(path), save_freq=3)])
    state, _ = native.restore_state(_model(), path)
    assert (state["epoch"], state["batch"]) == (1, 1)  # batches 3 and 6 of 8
    assert state["format"] == "graphkeras-training-state"
    assert state["rng"]["bit_generator"] == "PCG64" and "epoch_rng" in state
    assert state["learning_rate"] == float(np.float32(0.01))
    # a plain save, outside a checkpoint, has no training state; the file still loads
    model.save(tmp_path / "plain.keras")
    assert native.restore_state(_model(), tmp_path / "plain.keras")[0] is None
    assert gk.models.load_model(path).predict(x, verbose=0).shape == (20, 1)


class _Stop(gk.callbacks.Callback):
    """Raises after the given (epoch, batch): a crash, in process."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("crash")


class _Seen(gk.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen, self.epoch = [], 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append((self.epoch, batch))


@pytest.mark.parametrize("shuffle", [True, False, "batch"])
@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_in_process_resume_mid_epoch_is_exact(tmp_path, shuffle, steps_per_execution):
    x, y = _data()  # 20 samples, batches of 6: 4 batches, the last one short

    def run(callbacks):
        model = _model()
        model.compile(gk.optimizers.Adam(0.01), "mse", metrics=["mae"],
                      steps_per_execution=steps_per_execution)
        history = model.fit(x, y, batch_size=6, epochs=3, shuffle=shuffle, verbose=0,
                            callbacks=callbacks)
        return model, history

    gk.utils.set_random_seed(0)
    want, want_history = run([])
    want_draw = gk.backend.rng().integers(1 << 30)
    backup = str(tmp_path / "b")
    gk.utils.set_random_seed(0)
    with pytest.raises(RuntimeError, match="crash"):
        run([gk.callbacks.BackupAndRestore(backup, save_freq=1), _Stop(1, 1)])
    gk.utils.set_random_seed(0)
    seen = _Seen()
    got, history = run([gk.callbacks.BackupAndRestore(backup, save_freq=1), seen])
    assert seen.seen[0] == (1, 2)
    for a, b in zip(want.weights, got.weights):
        assert np.array_equal(a.numpy(), b.numpy())
    assert history.history["loss"] == want_history.history["loss"][1:]  # metric state
    assert gk.backend.rng().integers(1 << 30) == want_draw  # the generator went on the same
    assert not os.path.exists(backup)


def test_resumed_generator_data_skips_the_batches_done(tmp_path):
    x, y = _data()

    class Seq(gk.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[5 * i:5 * i + 5], y[5 * i:5 * i + 5]

    def stream():
        for _ in range(3):
            for i in range(4):
                yield x[5 * i:5 * i + 5], y[5 * i:5 * i + 5]

    for data, steps in ((Seq(), None), (stream, 4)):
        gk.utils.set_random_seed(0)
        want = _model()
        want.fit(data() if callable(data) else data, epochs=3, steps_per_epoch=steps, verbose=0)
        backup = str(tmp_path / "g")
        with pytest.raises(RuntimeError):
            _model().fit(data() if callable(data) else data, epochs=3, steps_per_epoch=steps,
                         verbose=0, callbacks=[gk.callbacks.BackupAndRestore(backup, save_freq=1),
                                               _Stop(1, 2)])
        got = _model()
        got.fit(data() if callable(data) else data, epochs=3, steps_per_epoch=steps, verbose=0,
                callbacks=[gk.callbacks.BackupAndRestore(backup, save_freq=1)])
        for a, b in zip(want.weights, got.weights):
            assert np.array_equal(a.numpy(), b.numpy())


def test_data_handler_resume_positions_the_cursor():
    from graphkeras.engine.data_handler import DataHandler
    x = np.arange(30, dtype="float32").reshape(10, 3)
    model = _model()

    def firsts(handler, epochs):  # the index of each batch's first sample
        return [[int(b[0][0][0, 0]) // 3 for b in handler.epoch()] for _ in range(epochs)]

    # steps_per_epoch 3 over 4 batches (the last of 1 sample): the position carries over
    whole = firsts(DataHandler(model, x, x, batch_size=3, steps_per_epoch=3), 3)
    assert whole == [[0, 3, 6], [9, 0, 3], [6, 9, 0]]
    resumed = DataHandler(model, x, x, batch_size=3, steps_per_epoch=3)
    resumed.resume(3 + 2, 2)  # epoch 1, after its 2nd batch
    assert firsts(resumed, 2) == [[3], [6, 9, 0]]


def test_backup_and_restore_removes_unfinished_temporaries(tmp_path):
    x, y = _data()
    backup = tmp_path / "b"
    backup.mkdir()
    (backup / ".tmp-abc").write_bytes(b"half a zip")
    bar = gk.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)
    _model().fit(x, y, batch_size=5, epochs=1, verbose=0, callbacks=[bar])
    assert sorted(os.listdir(backup)) == ["backup.zip"]
    state, _ = native.restore_state(_model(), backup / "backup.zip")
    assert (state["epoch"], state["batch"]) == (0, -1)
