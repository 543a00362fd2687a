"""compile/fit/evaluate/train_on_batch against tf.keras.

Every scenario of tests/fit_cases.py (optimizers, losses, metrics, on_batch,
multi-output models, fit options, custom steps) is replayed on graphkeras from
the initial weights tf.keras used, and its History, evaluate results,
metrics_names and final weights are compared with tests/fixtures/fit/ (written by
tests/reference/make_fit_fixtures.py). The rest of the file checks what has no
tf.keras number: run_eagerly, shuffling, Dropout, and the errors on bad input.
"""
import collections
import json
import math
from pathlib import Path

import numpy as np
import pytest

import fit_cases
import graphkeras as gk

FIXTURES = Path(__file__).parent / "fixtures" / "fit"
REF = json.loads((FIXTURES / "reference.json").read_text())
with np.load(FIXTURES / "arrays.npz") as _npz:
    _DATA = _npz["data"]
ARRAYS = {(case, name): [_DATA[o:o + int(np.prod(shape))].reshape(shape) for o, shape in items]
          for case, entries in REF.pop("_arrays").items() for name, items in entries.items()}


class _GkOps:
    mean = staticmethod(gk.ops.mean)
    square = staticmethod(gk.ops.square)
    add = staticmethod(gk.ops.add)
    multiply = staticmethod(gk.ops.multiply)


ENV = fit_cases.Env(gk, "gk", gk.GradientTape, _GkOps)


def ref_arrays(case, key):
    return ARRAYS.get((case, key), [])


def run_case(case, env=ENV):
    return fit_cases.split(fit_cases.CASES[case](env, ref_arrays(case, "init")))


def assert_close(got, want, rtol, where, atol=1e-6):
    """Same structure (float / list / dict) and values within tolerance."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: got {got!r}, want a dict {want!r}"
        assert sorted(got) == sorted(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_close(got[k], want[k], rtol, f"{where}[{k!r}]", atol)
        return
    if isinstance(want, (int, str)) or (isinstance(want, list) and want and
                                        isinstance(want[0], str)):
        assert got == want and type(got) is type(want), f"{where}: {got!r} != {want!r}"
        return
    if isinstance(want, list):
        assert isinstance(got, list), f"{where}: got {got!r}, want a list {want!r}"
    else:
        assert isinstance(got, float), f"{where}: got {type(got).__name__} {got!r}, want {want!r}"
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=rtol, atol=atol, err_msg=where)


def compare(case, plain, arrays):
    ref = REF[case]
    assert sorted(plain) == sorted(ref), f"{case}: result keys {sorted(plain)} != {sorted(ref)}"
    for key, want in ref.items():
        got = plain[key]
        if key == "history":
            assert sorted(got) == sorted(want), f"{case}: History keys {sorted(got)} != " \
                                                f"{sorted(want)}"
            for name, values in want.items():
                assert len(got[name]) == len(values), f"{case}: {name} {got[name]} != {values}"
                for e, (g, w) in enumerate(zip(got[name], values)):
                    assert_close(g, w, 1e-4 if e == 0 else 1e-3, f"{case}: {name}[epoch {e}]",
                                 atol=1e-5 if e == 0 else 1e-4)
        elif key in ("epoch", "params", "iterations") or "names" in key:
            assert got == want, f"{case}: {key} {got} != {want}"
        else:
            assert_close(got, want, 1e-3, f"{case}: {key}", atol=1e-5)
    assert sorted(arrays) == sorted(k for c, k in ARRAYS if c == case), f"{case}: array keys"
    for key, got in arrays.items():
        if key == "init":
            continue
        want = ref_arrays(case, key)
        assert len(got) == len(want), f"{case}: {key} has {len(got)} arrays, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5, err_msg=f"{case}: {key}[{i}]")


# Metrics cases are run last (graphkeras.metrics is the newest code).
_ORDER = sorted(fit_cases.CASES, key=lambda c: (c.startswith("metrics_"), c))


@pytest.mark.parametrize("case", _ORDER)
def test_matches_tf_keras(case):
    plain, arrays = run_case(case)
    compare(case, plain, arrays)


# ---------------------------------------------------------------- run_eagerly, steps_per_execution
def _forcing_compile(monkeypatch, **forced):
    """Make every ``compile`` in a scenario use ``forced`` keyword arguments."""
    from graphkeras.engine.trainer import Trainer
    original = Trainer.compile
    models = []

    def compile_(self, *args, **kwargs):
        kwargs.update(forced)
        models.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "compile", compile_)
    return models


EAGER_CASES = ["opt_adam", "opt_nadam", "opt_ftrl", "loss_bce", "loss_scce_logits", "multi_list",
               "fit_batch_norm", "fit_sample_weight", "fit_validation_split",
               "custom_train_step_compiled", "custom_compute_loss", "metrics_binary"]


@pytest.mark.parametrize("case", EAGER_CASES)
def test_run_eagerly_matches_compiled_and_tf_keras(case, monkeypatch):
    compiled, compiled_arrays = run_case(case)
    gk.backend.clear_session()
    models = _forcing_compile(monkeypatch, run_eagerly=True)
    eager, eager_arrays = run_case(case)
    assert models and all(m.run_eagerly for m in models)
    assert all(step.eager for m in models for step in m._steps.values())
    compare(case, eager, eager_arrays)
    for name, values in compiled.get("history", {}).items():
        np.testing.assert_allclose(eager["history"][name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{case}: eager {name}")
    for g, w in zip(eager_arrays["weights"], compiled_arrays["weights"]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["opt_adam", "fit_sample_weight", "fit_steps_per_epoch",
                                  "multi_dict", "fit_validation_data_freq"])
def test_steps_per_execution_matches_tf_keras(case, monkeypatch):
    models = _forcing_compile(monkeypatch, steps_per_execution=2)
    compare(case, *run_case(case))
    assert any(step.repeat == 2 for m in models for step in m._steps.values())


# ----------------------------------------------------------------------------- custom steps
def test_custom_train_step_gives_the_builtin_history():
    init = ref_arrays("custom_train_step_compiled", "init")
    custom, custom_w = fit_cases.split(fit_cases.custom_train_step_compiled(ENV, init))
    gk.backend.clear_session()
    builtin, builtin_w = fit_cases.split(fit_cases._custom(ENV, init, gk.Model))
    assert custom["history"].keys() == builtin["history"].keys() == {"loss", "accuracy"}
    for name in builtin["history"]:
        np.testing.assert_allclose(custom["history"][name], builtin["history"][name], rtol=1e-6)
    for g, w in zip(custom_w["weights"], builtin_w["weights"]):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_compiled_loss_and_metrics_take_unaligned_structures():
    """``self.compiled_loss(y, y_pred)`` in a custom step gets the bare tensors (not
    per-output lists), as in tf.keras; a dict keyed by output name works too."""
    x, y = fit_cases.mlp_data()
    model = fit_cases.mlp(gk)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(x[:8], y[:8])
    y_pred = model.predict(x, verbose=0)
    model.reset_metrics()
    model.compiled_loss(y, y_pred)
    model.compiled_metrics.update_state({model.output_names[0]: y}, {model.output_names[0]: y_pred})
    want = np.mean(-np.log(y_pred[np.arange(40), y]))
    np.testing.assert_allclose(model.compiled_loss.metrics[0].result(), want, rtol=1e-5)
    np.testing.assert_allclose(model.compiled_metrics.metrics[0].result(),
                               np.mean(np.argmax(y_pred, -1) == y))


# ----------------------------------------------------------------------------- shuffle, Dropout, BN
def test_shuffle_true_and_batch_train_and_repeat_with_the_seed():
    x, y = fit_cases.mlp_data()
    init = ref_arrays("opt_sgd", "init")
    results = {}
    for shuffle in (False, True, "batch"):
        for run in range(2):
            gk.utils.set_random_seed(1)
            model = fit_cases.mlp(gk)
            model.set_weights(init)
            model.compile(gk.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
            h = model.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0)
            assert np.all(np.isfinite(h.history["loss"]))
            results[shuffle, run] = model.get_weights()
    for shuffle in (False, True, "batch"):  # the same seed gives the same run
        for a, b in zip(results[shuffle, 0], results[shuffle, 1]):
            np.testing.assert_array_equal(a, b)
    for shuffle in (True, "batch"):  # shuffling changes the order of the updates
        assert not np.allclose(results[shuffle, 0][0], results[False, 0][0])
    np.testing.assert_allclose(results[False, 0][0], ref_arrays("opt_sgd", "weights")[0],
                               rtol=1e-3, atol=1e-5)


def test_shuffle_batch_permutes_whole_batches():
    from graphkeras.engine.data_handler import DataHandler
    model = gk.Sequential([gk.Input((1,)), gk.layers.Dense(1)])
    x = np.arange(20, dtype=np.float32)[:, None]
    for shuffle, whole in ((True, False), ("batch", True)):
        data = DataHandler(model, x, x, batch_size=6, shuffle=shuffle)
        batches = [b[0][0][:, 0] for b in data.epoch()]
        assert sorted(len(b) for b in batches) == [2, 6, 6, 6]
        assert sorted(np.concatenate(batches).tolist()) == list(range(20))
        assert not np.array_equal(np.concatenate(batches), np.arange(20))
        blocks = [b for b in batches if not (len(b) == 2 and b[0] == 18)]
        assert all(np.array_equal(b, np.arange(b[0], b[0] + len(b))) and b[0] % 6 == 0
                   for b in blocks) == whole
    np.testing.assert_array_equal(
        np.concatenate([b[0][0][:, 0] for b in DataHandler(model, x, x, batch_size=6).epoch()]),
        x[:, 0])


def test_dropout_trains_and_inference_is_deterministic():
    x, y = fit_cases.mlp_data()
    histories = []
    for eager in (False, True):
        gk.backend.clear_session()
        gk.utils.set_random_seed(3)
        model = gk.Sequential([gk.Input((6,)), gk.layers.Dense(16, activation="relu"),
                               gk.layers.Dropout(0.5), gk.layers.Dense(3, activation="softmax")])
        model.compile(gk.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], run_eagerly=eager)
        h = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        histories.append(h.history)
        assert np.all(np.isfinite(h.history["loss"]))
        p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
        np.testing.assert_array_equal(p1, p2)
        assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
        np.testing.assert_allclose(model.test_on_batch(x, y)[0], model.evaluate(x, y, verbose=0)[0],
                                   rtol=1e-6)
        # the mask is active in training: outputs differ from inference
        model.run_eagerly = True
        np.testing.assert_allclose(model.predict(x, verbose=0), p1, rtol=1e-5, atol=1e-6)
        assert not np.allclose(model(x, training=True), p1)
    # randomness is state of the step: the numpy path draws the same masks
    for name in histories[0]:
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)


def test_batch_norm_moving_stats_move_in_fit_only():
    x, y = fit_cases.mlp_data()
    model = fit_cases.bn_model(gk)
    model.set_weights(ref_arrays("fit_batch_norm", "init"))
    model.compile(gk.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    bn = model.layers[1]
    before = [w.numpy().copy() for w in bn.non_trainable_weights]
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    after = [w.numpy().copy() for w in bn.non_trainable_weights]
    assert not np.allclose(before[0], after[0]) and not np.allclose(before[1], after[1])
    model.evaluate(x, y, verbose=0)
    model.test_on_batch(x, y)
    model.predict(x, verbose=0)
    for a, b in zip(after, bn.non_trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())


# ----------------------------------------------------------------------------- bad input
def _compiled_mlp(**kw):
    model = fit_cases.mlp(gk)
    model.compile("sgd", "sparse_categorical_crossentropy", **kw)
    return model


def test_training_before_compile_is_a_runtime_error():
    x, y = fit_cases.mlp_data()
    model = fit_cases.mlp(gk)
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises(RuntimeError, match="must compile your model"):
            call()


def test_mismatched_sizes_name_them():
    x, y = fit_cases.mlp_data()
    model = _compiled_mlp()
    with pytest.raises(ValueError, match="cardinality is ambiguous:\n  x sizes: 40\n  y sizes: 39"):
        model.fit(x, y[:39], verbose=0)
    with pytest.raises(ValueError, match="x sizes: 30\n  y sizes: 40"):
        model.evaluate(x[:30], y, verbose=0)
    with pytest.raises(ValueError, match="sample_weight sizes: 7"):
        model.fit(x, y, sample_weight=np.ones(7), verbose=0)
    with pytest.raises(ValueError, match="x sizes: 8\n  y sizes: 9"):
        model.train_on_batch(x[:8], y[:9])
    with pytest.raises(ValueError, match=r"expects shape \(None, 6\), got \(\d+, 5\)"):
        model.fit(x[:, :5], y, verbose=0)


def test_empty_data():
    x, y = fit_cases.mlp_data()
    model = _compiled_mlp()
    with pytest.raises(ValueError, match="non-empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="non-empty"):
        model.evaluate(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="Empty logs"):
        model.fit(iter([]), steps_per_epoch=2, verbose=0)


def test_unknown_names():
    x, y = fit_cases.mlp_data()
    with pytest.raises(ValueError, match="Unknown optimizer: 'foo_opt'"):
        fit_cases.mlp(gk).compile("foo_opt", "mse")
    model = fit_cases.mlp(gk)
    model.compile("sgd", "foo_loss")  # as tf.keras: resolved when training starts
    with pytest.raises(ValueError, match="Unknown loss function: 'foo_loss'"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="Unknown metric function: 'foo_metric'"):
        _compiled_mlp(metrics=["foo_metric"]).fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="two metrics with the same name: mae"):
        _compiled_mlp(metrics=["mae", gk.metrics.MeanAbsoluteError(name="mae")]).fit(
            x, y, verbose=0)
    with pytest.raises(ValueError, match="unexpected target keys"):
        _compiled_mlp().fit(x, {"nope": y}, verbose=0)


def test_namedtuple_batches_are_refused():
    x, y = fit_cases.mlp_data()
    Pair = collections.namedtuple("Pair", ["x", "y"])
    model = _compiled_mlp()
    with pytest.raises(ValueError, match="namedtuple"):
        model.fit(Pair(x, x), y, verbose=0)

    def batches():
        while True:
            yield Pair(x[:8], y[:8])

    with pytest.raises(ValueError, match="namedtuple"):
        model.fit(batches(), steps_per_epoch=2, verbose=0)


def test_nan_loss_with_terminate_on_nan_stops_cleanly():
    plain, arrays = run_case("fit_nan_terminate")
    assert plain["epoch"] == [0] and math.isnan(plain["history"]["loss"][0])
    # the model is still usable: training again on clean data runs
    x, y = fit_cases.mlp_data()
    model = _compiled_mlp()
    model.fit(x, y, verbose=0, callbacks=[gk.callbacks.TerminateOnNaN()], epochs=2)
    assert model.history.epoch == [0, 1] and not model.stop_training


def test_train_step_must_return_a_dict():
    class Bad(gk.Model):
        def train_step(self, data):
            return 1.0

    inp = gk.Input((6,))
    model = Bad(inp, gk.layers.Dense(3)(inp))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="must return a dict"):
        model.fit(np.zeros((4, 6)), np.zeros((4, 3)), verbose=0)
