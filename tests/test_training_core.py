"""The fused training step: folded steps, the numpy path, dropout randomness as state,
custom train steps."""
import numpy as np
import pytest

import graphkeras as gk


def data(n=100):
    rng = np.random.default_rng(0)
    return rng.random((n, 8), dtype=np.float32), rng.integers(0, 3, n)


def model(dropout=False):
    layers = [gk.layers.Dense(16, activation="relu", input_shape=(8,))]
    if dropout:
        layers.append(gk.layers.Dropout(0.5))
    layers.append(gk.layers.Dense(3, activation="softmax"))
    return gk.Sequential(layers)


def fit(steps_per_execution=1, eager=False, dropout=False, shuffle=False, seed=0, **kw):
    gk.backend.clear_session()
    gk.utils.set_random_seed(seed)
    x, y = data()
    m = model(dropout)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=steps_per_execution, run_eagerly=eager)
    history = m.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=shuffle,
                    validation_split=0.2, **kw)
    return history.history, m.get_weights()


def assert_same_run(a, b, rtol=1e-6):
    (ha, wa), (hb, wb) = a, b
    assert ha.keys() == hb.keys()
    for key in ha:
        np.testing.assert_allclose(ha[key], hb[key], rtol=rtol, err_msg=key)
    for u, v in zip(wa, wb):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spe", [2, 4, 32])
def test_steps_per_execution_gives_the_same_history(spe):
    assert_same_run(fit(1), fit(spe))


def test_steps_per_execution_with_shuffling_runs_the_same_batches():
    assert_same_run(fit(1, shuffle=True), fit(3, shuffle=True))


def test_folded_graph_is_one_call_per_group():
    gk.backend.clear_session()
    x, y = data()
    m = model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=4)
    calls = []

    class Count(gk.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(batch)

    m.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False, callbacks=[Count()])
    assert calls == [3, 7, 8, 9]  # two folded calls, then the two leftover batches
    assert sorted(key[3] for key in m._steps) == [1, 4]


def test_run_eagerly_gives_the_same_history():
    assert_same_run(fit(eager=False), fit(eager=True), rtol=1e-5)


def test_dropout_is_state_same_masks_on_both_paths():
    assert_same_run(fit(dropout=True, shuffle=True), fit(dropout=True, shuffle=True, eager=True),
                    rtol=1e-5)


def test_dropout_seeded_runs_repeat_and_seeds_differ():
    first = fit(dropout=True, shuffle=True, seed=1)
    assert_same_run(first, fit(dropout=True, shuffle=True, seed=1))
    other = fit(dropout=True, shuffle=True, seed=2)
    assert not np.allclose(first[0]["loss"], other[0]["loss"])


def test_dropout_masks_change_between_steps_and_inference_is_identity():
    layer = gk.layers.Dropout(0.5, seed=3)
    x = np.ones((4, 50), np.float32)
    a, b = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 2.0} and 0.3 < (a == 0).mean() < 0.7
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert layer.weights == []


def test_fit_before_compile_is_a_runtime_error():
    x, y = data()
    with pytest.raises(RuntimeError, match="compile"):
        model().fit(x, y, verbose=0)


def test_custom_train_step_with_gradient_tape_matches_built_in():
    class Custom(gk.Sequential):
        def train_step(self, data):
            x, y = data
            with gk.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x, y, y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return self.compute_metrics(x, y, y_pred, None)

    def run(cls):
        gk.backend.clear_session()
        gk.utils.set_random_seed(0)
        x, y = data()
        m = cls([gk.layers.Dense(16, activation="relu", input_shape=(8,)),
                 gk.layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history, m.get_weights()

    assert_same_run(run(gk.Sequential), run(Custom))


def test_custom_train_step_with_own_loss_tracker():
    class Tracked(gk.Model):
        def __init__(self):
            super().__init__()
            self.dense = gk.layers.Dense(1)
            self.tracker = gk.metrics.Mean(name="my_loss")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with gk.GradientTape() as tape:
                loss = gk.ops.mean(gk.ops.square(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(loss)
            return {"my_loss": self.tracker.result()}

    x = np.random.default_rng(1).random((64, 3), dtype=np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    m = Tracked()
    m.compile(optimizer=gk.optimizers.SGD(0.1))
    history = m.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["my_loss"][-1] < history.history["my_loss"][0]
    assert [mm.name for mm in m.metrics] == ["my_loss"]
    assert len(m.weights) == 2  # the tracker's state is not a weight


def test_activity_regularizer_and_add_loss_join_the_loss():
    rng = np.random.default_rng(0)
    x = rng.random((8, 3), dtype=np.float32)
    y = rng.random((8, 2), dtype=np.float32)

    class WithLoss(gk.layers.Layer):
        def call(self, inputs):
            self.add_loss(gk.ops.mean(gk.ops.square(inputs)) * 0.5)
            return inputs

    inputs = gk.Input((3,))
    dense = gk.layers.Dense(2, activity_regularizer=gk.regularizers.L2(0.1))
    model = gk.Model(inputs, WithLoss()(dense(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    got = model.evaluate(x, y, verbose=0)
    out = model.predict(x, verbose=0)
    want = np.mean((out - y) ** 2) + 0.1 * np.sum(out ** 2) / len(x) + 0.5 * np.mean(out ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_stop_gradient_blocks_the_gradient():
    class Frozen(gk.Model):
        def __init__(self):
            super().__init__()
            self.a = gk.layers.Dense(2)
            self.b = gk.layers.Dense(1)

        def call(self, x):
            return self.b(gk.ops.stop_gradient(self.a(x)))

    rng = np.random.default_rng(0)
    x, y = rng.random((16, 3), dtype=np.float32), rng.random((16, 1), dtype=np.float32)
    model = Frozen()
    model.compile(optimizer="sgd", loss="mse")
    model.predict(x[:1], verbose=0)
    before = model.a.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for u, v in zip(before, model.a.get_weights()):
        np.testing.assert_array_equal(u, v)
