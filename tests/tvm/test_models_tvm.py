"""``compile(jit_compile=True)``: models on TVM equal the same models on ONNX Runtime.

Small MLP and CNN (Dropout included: its counter-based hash RNG draws the same
bits on both paths): predict, evaluate and a few epochs of fit, then the
weights. Also: one module for every batch size, the on-disk cache (a second
build loads the library instead of compiling), ``steps_per_execution`` (a scan
of train steps), host writes during training, and the error without TVM.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import graphkeras as gk


def _tvm():
    return pytest.importorskip("tvm", reason="apache-tvm is not installed "
                                              "(pip install graphkeras[tvm])")


def test_jit_compile_without_tvm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tvm", None)  # `import tvm` raises ImportError
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ImportError, match=r"pip install graphkeras\[tvm\]"):
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)


def mlp():
    x = gk.Input((6,))
    h = gk.layers.Dense(16, activation="relu")(x)
    h = gk.layers.Dropout(0.3)(h)
    return gk.Model(x, gk.layers.Dense(3)(h))


def cnn():
    return gk.Sequential([
        gk.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Conv2D(4, 2, padding="same", activation="relu"),
        gk.layers.Flatten(),
        gk.layers.Dropout(0.25),
        gk.layers.Dense(3),
    ])


def data(kind, n=24):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 6) if kind == "mlp" else (n, 8, 8, 1)).astype(np.float32)
    return x, rng.integers(0, 3, n)


def build(kind, jit, **compile_kw):
    gk.backend.clear_session()
    gk.utils.set_random_seed(3)
    model = mlp() if kind == "mlp" else cnn()
    model.compile(optimizer=gk.optimizers.Adam(0.01),
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit, **compile_kw)
    return model


def close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=what)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_fit_evaluate_predict_equal_onnx(kind):
    _tvm()
    x, y = data(kind)
    ref, jit = build(kind, False), build(kind, True)
    for a, b in zip(ref.get_weights(), jit.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same start
    close(jit.predict(x, verbose=0), ref.predict(x, verbose=0), "predict before fit")
    h_ref = ref.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history
    h_jit = jit.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history
    assert set(h_ref) == set(h_jit) == {"loss", "accuracy"}
    for key in h_ref:
        close(h_jit[key], h_ref[key], f"history[{key}]")
    for a, b in zip(jit.get_weights(), ref.get_weights()):
        close(a, b, "weights after fit")
    close(jit.evaluate(x, y, batch_size=10, verbose=0),
          ref.evaluate(x, y, batch_size=10, verbose=0), "evaluate")
    close(jit.predict(x, batch_size=7, verbose=0), ref.predict(x, batch_size=7, verbose=0),
          "predict after fit")
    close(jit.train_on_batch(x[:5], y[:5]), ref.train_on_batch(x[:5], y[:5]), "train_on_batch")


def test_dropout_draws_the_same_mask():
    """The train step's dropout on TVM: the same kept units as ONNX Runtime, step after step."""
    _tvm()
    x, y = data("mlp", 16)
    models = [build("mlp", jit) for jit in (False, True)]
    for model in models:
        model.layers[2].rate = 0.5
    for step in range(3):
        losses = [m.train_on_batch(x, y) for m in models]
        close(losses[1], losses[0], f"step {step}")


def test_one_module_serves_every_batch_size(monkeypatch):
    _tvm()
    from graphkeras.runtime import tvm_executor
    model = build("mlp", True)
    ref = build("mlp", False)
    ref.set_weights(model.get_weights())
    builds = []
    real = tvm_executor._build
    monkeypatch.setattr(tvm_executor, "_build", lambda *a, **k: builds.append(1) or real(*a, **k))
    x, _ = data("mlp", 13)
    for batch in (1, 4, 13):
        close(model.predict(x[:batch], verbose=0), ref.predict(x[:batch], verbose=0),
              f"batch {batch}")
    assert len(builds) <= 1


def test_a_second_build_loads_the_cached_library(tmp_path, monkeypatch):
    tvm = _tvm()
    from graphkeras.compiler import ops
    from graphkeras.compiler.primitive import Trace
    from graphkeras.runtime import tvm_executor
    trace = Trace("cached")
    with trace:
        a = trace.input((None, 3), "float32", "a")
        out = ops.add(ops.tanh(a), 1.0)
    trace.graph.outputs = [out.value]
    first = tvm_executor.build_module(trace.graph, cache_dir=tmp_path)
    assert first.path is not None and first.path.exists()
    tvm_executor._MEMORY.clear()  # as a new process would start
    monkeypatch.setattr(tvm, "compile", lambda *a, **k: pytest.fail("compiled again"))
    second = tvm_executor.build_module(trace.graph, cache_dir=tmp_path)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    close(second(x)[0], np.tanh(x) + 1, "cached module")
    copy = second.export_library(tmp_path / "copy.so")
    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(copy), tvm.cpu())
    close(vm["main"](tvm.runtime.tensor(x))[0].numpy(), np.tanh(x) + 1, "exported library")


def test_steps_per_execution_and_host_writes():
    """N steps per call (a scan of train steps) and a learning rate set between epochs."""
    _tvm()
    x, y = data("mlp", 16)
    ref, jit = build("mlp", False, steps_per_execution=2), build("mlp", True, steps_per_execution=2)
    for model in (ref, jit):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        model.optimizer.learning_rate.assign(0.05)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(jit.get_weights(), ref.get_weights()):
        close(a, b, "weights")
    assert int(jit.optimizer.iterations.numpy()) == int(ref.optimizer.iterations.numpy()) == 8


def relu_matmul(name):
    """The graph of relu(a @ w), a of shape (batch, 16), w (16, 8)."""
    from graphkeras.compiler import ops
    from graphkeras.compiler.primitive import Trace
    trace = Trace(name)
    with trace:
        a = trace.input((None, 16), "float32", "a")
        w = trace.input((16, 8), "float32", "w")
        out = ops.relu(ops.matmul(a, w))
    trace.graph.outputs = [out.value]
    return trace.graph


def test_tune_records_schedules_that_executors_use(tmp_path, monkeypatch):
    """`tune` (MetaSchedule, a handful of trials): the tuned module is specialized to the batch
    size, recorded in the cache, equal to the untuned one, and picked by executors for
    batches of that size."""
    _tvm()
    from graphkeras.runtime import tvm_executor
    monkeypatch.setenv("GRAPHKERAS_TVM_CACHE", str(tmp_path))
    graph = relu_matmul("tuned")
    tuned = tvm_executor.tune(graph, 2, batch_size=4)
    assert tvm_executor.tuned_batch_sizes(graph) == [4]
    assert (tmp_path / "tuning" / "database_tuning_record.json").stat().st_size > 0
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(4, 16)).astype(np.float32), rng.normal(size=(16, 8)).astype(np.float32)
    close(tuned(x, k)[0], np.maximum(x @ k, 0), "tuned module")
    state = tvm_executor.device_state()
    state.set("tune_test/w", k)
    executor = tvm_executor.TVMGraphExecutor(graph, ["a"], {"w": "tune_test/w"}, state)
    close(executor([x])[0], np.maximum(x @ k, 0), "executor, tuned batch")
    close(executor([x[:3]])[0], np.maximum(x[:3] @ k, 0), "executor, other batch")
    assert executor.module.function([x]) is not executor.module.function([x[:3]])
    state.remove("tune_test/w")


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_recurrent_layers(layer):
    """RNN layers run on `scan`: on TVM its body is a function the step calls once per
    time step (a known number of steps)."""
    _tvm()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    models = []
    for jit in (False, True):
        gk.backend.clear_session()
        gk.utils.set_random_seed(2)
        model = gk.Sequential([getattr(gk.layers, layer)(5, input_shape=(4, 3)),
                               gk.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        models.append(model)
    ref, jit = (m.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history["loss"]
                for m in models)
    close(jit, ref, "loss")
    close(models[1].predict(x, verbose=0), models[0].predict(x, verbose=0), "predict")


def test_recurrent_layer_over_sequences_of_any_length():
    """TVM unrolls a loop over its known number of steps: a model over sequences of unknown
    length is built once per sequence length (as XLA compiles per shape), every batch size
    of a length sharing one build."""
    _tvm()
    from graphkeras.runtime import tvm_executor
    rng = np.random.default_rng(1)
    y = rng.normal(size=(6, 1)).astype(np.float32)
    models = []
    for jit in (False, True):
        gk.backend.clear_session()
        gk.utils.set_random_seed(3)
        model = gk.Sequential([gk.layers.GRU(3, input_shape=(None, 2)), gk.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        models.append(model)
    ref, jit = models
    for length in (4, 2):
        x = rng.normal(size=(6, length, 2)).astype(np.float32)
        close(jit.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"],
              ref.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"],
              f"fit, length {length}")
        close(jit.predict(x, verbose=0), ref.predict(x, verbose=0), f"predict, length {length}")
    step = next(s for s in jit._steps.values() if s.kind == "train")
    modules = step._executor.module
    assert modules.per_shape and modules.generic is None
    assert len(modules._functions) == 2  # lengths 4 and 2 (batches of 4 and 2 share them)
    assert tvm_executor.open_scan_lengths(step.graph)


@pytest.mark.parametrize("plain_faster", [True, False])
def test_tune_keeps_the_default_schedules_when_they_run_faster(tmp_path, monkeypatch,
                                                               plain_faster):
    """A few trials can find schedules slower than the default ones: `tune` times both
    builds and keeps (saves under the tuned key) the faster."""
    _tvm()
    from graphkeras.runtime import tvm_executor
    monkeypatch.setenv("GRAPHKERAS_TVM_CACHE", str(tmp_path))
    built, saved = {}, []
    real_build, real_save = tvm_executor._build, tvm_executor._save

    def build(graph, target, root, key, batch_size, database, constants=None):
        module = real_build(graph, target, root, key, batch_size, database, constants)
        built[id(module.executable)] = "plain" if database is None else "tuned"
        return module

    def save(executable, root, key):
        saved.append(built.get(id(executable)))
        return real_save(executable, root, key)

    timings = []

    def seconds(modules, graph, batch_size, rounds=7):
        got = real_seconds(modules, graph, batch_size, rounds=2)
        timings.append(got)
        return [1e-3, 2e-3] if plain_faster else [2e-3, 1e-3]

    real_seconds = tvm_executor._seconds_per_call
    monkeypatch.setattr(tvm_executor, "_build", build)
    monkeypatch.setattr(tvm_executor, "_save", save)
    monkeypatch.setattr(tvm_executor, "_seconds_per_call", seconds)
    graph = relu_matmul("tuned_or_not")
    module = tvm_executor.tune(graph, 2, batch_size=4)
    assert len(timings) == 1 and all(t > 0 for t in timings[0])  # both builds were run
    # (the tuned build saves itself while it is built; the default one only when kept)
    assert (saved[-1] == "plain") if plain_faster else ("plain" not in saved)
    assert tvm_executor.tuned_batch_sizes(graph) == [4]
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(4, 16)).astype(np.float32), rng.normal(size=(16, 8)).astype(np.float32)
    close(module(x, k)[0], np.maximum(x @ k, 0), "kept module")
