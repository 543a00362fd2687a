"""Data-parallel fit on a local Ray cluster of 2 workers (``gk.distribute.DataParallel``).

Every comparison is against the single-process path with the same global batch:
same initial weights, same seed (so the same shuffling), same data.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

import graphkeras as gk

TOL = dict(rtol=1e-5, atol=1e-6)


def mlp(seed=0, dropout=0.0, n_in=6, n_out=3):
    gk.backend.clear_session()
    gk.utils.set_random_seed(seed)
    x = gk.Input((n_in,))
    h = gk.layers.Dense(16, activation="relu")(x)
    if dropout:
        h = gk.layers.Dropout(dropout)(h)
    return gk.Model(x, gk.layers.Dense(n_out)(h))


def compile_cls(model, metrics=("accuracy",)):
    model.compile(optimizer=gk.optimizers.Adam(1e-2), metrics=list(metrics),
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data(n, n_in=6, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in), dtype=np.float32), rng.integers(0, n_out, n)


def pair(strategy, build=mlp, compile_fn=compile_cls, **kwargs):
    """The same model twice: compiled under the strategy, and for one process."""
    with strategy.scope():
        dist = compile_fn(build(**kwargs))
    local = compile_fn(build(**kwargs))
    return dist, local


def fit_both(dist, local, *args, seed=1, **kwargs):
    gk.utils.set_random_seed(seed)
    h_dist = dist.fit(*args, verbose=0, **kwargs)
    gk.utils.set_random_seed(seed)
    h_local = local.fit(*args, verbose=0, **kwargs)
    return h_dist.history, h_local.history


def assert_same_weights(a, b, **tol):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, **(tol or TOL))


def assert_same_history(ha, hb):
    assert ha.keys() == hb.keys()
    for k in ha:
        np.testing.assert_allclose(ha[k], hb[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_two_workers_equal_one_process_with_uneven_shards(strategy):
    # 101 samples, batch 32: the last batch has 5 samples, split 3 + 2 (weights 3/5, 2/5)
    dist, local = pair(strategy)
    assert dist._distribute_strategy is strategy and local._distribute_strategy is None
    x, y = data(101)
    h_dist, h_local = fit_both(dist, local, x, y, batch_size=32, epochs=3, shuffle=True)
    assert_same_weights(dist, local)
    assert_same_history(h_dist, h_local)
    assert len(h_dist["loss"]) == 3
    # the step really ran on the workers: the driver's update saw every sample
    assert strategy.stats.samples >= 303


def test_last_batch_smaller_than_the_workers(strategy):
    # 65 samples, batch 32: the last batch (1 sample) goes to worker 0 alone
    dist, local = pair(strategy)
    x, y = data(65, seed=3)
    sw = np.random.default_rng(4).random(65).astype(np.float32)
    fit_both(dist, local, x, y, batch_size=32, epochs=2, shuffle=False, sample_weight=sw)
    assert_same_weights(dist, local)


def test_metrics_are_reduced_across_workers(strategy):
    # binary model, accuracy and AUC: every batch's logs (running means over the epoch)
    # and the epoch's History come from the summed metric state, so they equal one process'
    def build():
        gk.backend.clear_session()
        gk.utils.set_random_seed(0)
        x = gk.Input((5,))
        return gk.Model(x, gk.layers.Dense(1, activation="sigmoid")(gk.layers.Dense(8, "tanh")(x)))

    def comp(model):
        model.compile(optimizer=gk.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["accuracy", gk.metrics.AUC(name="auc")])
        return model

    dist, local = pair(strategy, build, comp)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(90, 5)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=90) > 0).astype(np.float32)

    class Batches(gk.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append(dict(logs))

    cb_dist, cb_local = Batches(), Batches()
    gk.utils.set_random_seed(2)
    h_dist = dist.fit(x, y, batch_size=20, epochs=2, verbose=0, callbacks=[cb_dist],
                      validation_data=(x[:30], y[:30])).history
    gk.utils.set_random_seed(2)
    h_local = local.fit(x, y, batch_size=20, epochs=2, verbose=0, callbacks=[cb_local],
                        validation_data=(x[:30], y[:30])).history
    assert set(h_dist) == {"loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"}
    assert_same_history(h_dist, h_local)
    assert len(cb_dist.logs) == len(cb_local.logs) == 10
    for a, b in zip(cb_dist.logs, cb_local.logs):
        for k in b:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    # evaluate and predict run on the workers too, and agree with one process
    e_dist = dist.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    e_local = local.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for k in e_local:
        assert e_dist[k] == pytest.approx(e_local[k], rel=1e-5, abs=1e-6), k
    np.testing.assert_allclose(dist.predict(x, batch_size=16, verbose=0),
                               local.predict(x, batch_size=16, verbose=0), rtol=1e-5, atol=1e-6)


def worker_states(strategy, model):
    """Each worker's resident copy of ``model``'s training state, and the driver's."""
    import ray
    (program,) = model._distributed_runner.train.values()
    keys = [v.key for v in program.variables]
    states = ray.get([a.get_state.remote(keys) for a in strategy._actors], timeout=60)
    return states, [np.asarray(v.numpy()) for v in program.variables]


def test_no_weights_travel_per_step_and_every_worker_applies_the_update(strategy):
    # the state goes to the workers once per fit; then each step moves only gradient
    # chunks between the workers, and the driver reads the state back once per epoch
    dist, local = pair(strategy)
    x, y = data(100, seed=13)
    strategy.stats.reset()
    fit_both(dist, local, x, y, batch_size=20, epochs=1)
    stats = strategy.stats.as_dict()
    assert stats["steps"] == 5 and stats["sends"] == 1 and stats["fetches"] == 1
    n_weights = sum(w.nbytes for w in dist.get_weights())
    assert stats["sent_bytes"] >= 3 * n_weights  # weights + Adam's two slots, once
    strategy.stats.reset()
    h_dist, h_local = fit_both(dist, local, x, y, batch_size=20, epochs=3, seed=2)
    stats = strategy.stats.as_dict()
    assert stats["steps"] == 15
    assert stats["sends"] == 0 and stats["sent_bytes"] == 0  # nothing changed on the driver
    assert stats["fetches"] == 3  # after each epoch
    assert_same_weights(dist, local)
    assert_same_history(h_dist, h_local)
    # the update ran on every worker: their resident states are bit-identical, and
    # equal the driver's (read back from worker 0)
    states, driver = worker_states(strategy, dist)
    assert len(states) == 2 and len(driver) >= 3 * len(dist.get_weights())
    for values in states:
        for a, b in zip(values, driver):
            np.testing.assert_array_equal(a, b)


def test_a_callback_changing_the_learning_rate_reaches_the_workers(strategy):
    # epoch level (LearningRateScheduler: no batch hooks, the driver syncs per epoch)
    # and mid-epoch (a batch hook): the workers use the driver's new learning rate
    class DropMidEpoch(gk.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if (self.epoch, batch) == (2, 2):
                self.model.optimizer.learning_rate = 0.0  # frozen from here on
                self.frozen = [w.copy() for w in self.model.get_weights()]

    def schedule(epoch, lr):
        return lr * 0.1 if epoch == 1 else lr

    dist, local = pair(strategy)
    x, y = data(96, seed=14)
    cb_dist, cb_local = DropMidEpoch(), DropMidEpoch()
    strategy.stats.reset()
    gk.utils.set_random_seed(5)
    h_dist = dist.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[
        gk.callbacks.LearningRateScheduler(schedule), cb_dist]).history
    gk.utils.set_random_seed(5)
    h_local = local.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[
        gk.callbacks.LearningRateScheduler(schedule), cb_local]).history
    assert_same_history(h_dist, h_local)
    assert_same_weights(dist, local)
    np.testing.assert_allclose(h_dist["lr"], [1e-2, 1e-3, 0.0], rtol=1e-6)
    assert float(dist.optimizer.learning_rate.numpy()) == 0.0
    for a, b in zip(dist.get_weights(), cb_dist.frozen):  # no step moved them since
        np.testing.assert_array_equal(a, b)
    # only the learning rate was sent again (once per change: epochs 1 and 2's
    # scheduler calls, and the mid-epoch change), not the weights
    stats = strategy.stats.as_dict()
    assert stats["sends"] == 1 + 3 and stats["fetches"] == 18
    assert stats["sent_bytes"] < sum(w.nbytes for w in dist.get_weights()) * 3 + 3 * 4 + 64


def test_sequence_data_is_read_by_the_driver_and_scattered(strategy):
    x, y = data(70, seed=6)

    class Seq(gk.utils.Sequence):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[i * 24:(i + 1) * 24], y[i * 24:(i + 1) * 24]  # 24, 24, 22

    dist, local = pair(strategy)
    fit_both(dist, local, Seq(), epochs=2)
    assert_same_weights(dist, local)
    np.testing.assert_allclose(dist.predict(Seq(), verbose=0), local.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_train_step_override_runs_on_the_workers(strategy):
    # a subclassed model with its own train_step: the workers run the traced graph
    class Custom(gk.Model):
        def __init__(self):
            super().__init__()
            self.d1 = gk.layers.Dense(8, activation="relu")
            self.d2 = gk.layers.Dense(1)
            self.tracker = gk.metrics.Mean(name="loss")

        def call(self, inputs, training=False):
            return self.d2(self.d1(inputs))

        def train_step(self, data):
            x, y = data
            with gk.GradientTape() as tape:
                pred = self(x, training=True)
                loss = gk.ops.mean(gk.ops.square(gk.ops.subtract(pred, y)))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result(), "batch_mse": loss}

    def build():
        gk.backend.clear_session()
        gk.utils.set_random_seed(0)
        model = Custom()
        model.build((None, 4))
        return model

    def comp(model):
        model.compile(optimizer=gk.optimizers.SGD(0.05, momentum=0.9))
        return model

    dist, local = pair(strategy, build, comp)
    rng = np.random.default_rng(7)
    x = rng.random((64, 4), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)
    h_dist, h_local = fit_both(dist, local, x, y, batch_size=16, epochs=2, shuffle=False)
    assert_same_weights(dist, local)
    # a log that is no metric (the batch's loss) is the shard-weighted mean: the global value
    np.testing.assert_allclose(h_dist["batch_mse"], h_local["batch_mse"], rtol=1e-5)


def test_dropout_seeds_are_deterministic(strategy):
    gk.backend.clear_session()
    x, y = data(64, seed=8)
    runs = []
    for _ in range(2):
        with strategy.scope():
            model = compile_cls(mlp(dropout=0.5))
        gk.utils.set_random_seed(3)
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    # worker 1 draws its own masks (its counter is offset by 2**32), worker 0 draws a
    # single process' masks: so 2 workers differ from one process, as they should
    local = compile_cls(mlp(dropout=0.5))
    gk.utils.set_random_seed(3)
    local.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(runs[0], local.get_weights()))
    # batches of one sample all go to worker 0: then the masks are one process' masks
    dist, local = pair(strategy, dropout=0.5)
    fit_both(dist, local, x[:6], y[:6], batch_size=1, epochs=2)
    assert_same_weights(dist, local)


def test_callbacks_run_on_the_driver_and_checkpoint_saves_once(strategy, tmp_path):
    dist, _ = pair(strategy)
    x, y = data(64, seed=9)
    path = str(tmp_path / "ckpt-{epoch}.keras")
    seen = []
    saves = []
    orig = gk.Model.save

    def counting_save(self, *args, **kwargs):
        saves.append(os.getpid())
        return orig(self, *args, **kwargs)

    gk.Model.save = counting_save
    try:
        dist.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[
            gk.callbacks.ModelCheckpoint(path),
            gk.callbacks.LambdaCallback(
                on_train_batch_end=lambda b, logs: seen.append(os.getpid()))])
    finally:
        gk.Model.save = orig
    assert saves == [os.getpid()] * 2  # once per epoch, by the driver
    assert seen == [os.getpid()] * 8
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1.keras", "ckpt-2.keras"]
    loaded = gk.models.load_model(str(tmp_path / "ckpt-2.keras"))
    assert_same_weights(loaded, dist, rtol=0, atol=0)


class KillWorker(gk.callbacks.Callback):
    """SIGKILL worker ``rank``'s process after the given (epoch, batch) points."""

    def __init__(self, strategy, points, rank=1):
        super().__init__()
        self.strategy, self.points, self.rank = strategy, set(points), rank
        self.epoch = 0
        self.killed = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) in self.points:
            self.points.discard((self.epoch, batch))
            pid = self.strategy.workers()[self.rank]["pid"]
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_worker_makes_fit_raise_a_clear_error(strategy):
    dist, _ = pair(strategy)
    x, y = data(96, seed=10)
    killer = KillWorker(strategy, [(0, 1)])
    start = time.monotonic()
    with pytest.raises(gk.distribute.WorkerError, match=r"worker 1 \(pid \d+") as info:
        dist.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[killer])
    assert time.monotonic() - start < 30  # no hang
    assert info.value.rank == 1 and info.value.pid == killer.killed[0]
    assert "died" in str(info.value) and "BackupAndRestore" in str(info.value)
    # the next call starts new workers
    assert dist.evaluate(x, y, verbose=0)[0] > 0
    assert killer.killed[0] not in [w["pid"] for w in strategy.workers()]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP")
def test_silent_worker_times_out_instead_of_hanging(strategy):
    dist, _ = pair(strategy)
    x, y = data(48, seed=12)
    dist.fit(x, y, batch_size=16, verbose=0)  # graphs loaded: what remains is the step
    pid = strategy.workers()[1]["pid"]
    saved, strategy.timeout = strategy.timeout, 2.0
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(gk.distribute.WorkerError,
                           match=r"worker 1 \(pid \d+ .*did not answer within 2 s"):
            dist.fit(x, y, batch_size=16, verbose=0)
        assert time.monotonic() - start < 15
    finally:
        strategy.timeout = saved
        os.kill(pid, signal.SIGKILL)  # stopped for good; the next call replaces it
    assert dist.evaluate(x, y, verbose=0)[0] > 0
    assert pid not in [w["pid"] for w in strategy.workers()]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_backup_and_restore_restarts_the_workers_and_resumes(strategy, tmp_path):
    # killed once before the first backup (epoch 0) and once after it (epoch 1): fit
    # restarts the workers, restores the last backup and finishes every epoch, with the
    # weights of an uninterrupted run
    dist, local = pair(strategy)
    x, y = data(80, seed=11)
    killer = KillWorker(strategy, [(0, 2), (1, 1)])
    backup = gk.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    gk.utils.set_random_seed(4)
    h_dist = dist.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[killer, backup])
    gk.utils.set_random_seed(4)
    h_local = local.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert len(killer.killed) == 2 and dist._distributed_restarts == 2
    assert_same_history(h_dist.history, h_local.history)
    assert_same_weights(dist, local)
    assert not os.path.exists(tmp_path / "backup")  # deleted at the end, as without workers


def test_without_ray_creating_a_strategy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install graphkeras\[distributed\]"):
        gk.distribute.DataParallel(num_workers=2)
