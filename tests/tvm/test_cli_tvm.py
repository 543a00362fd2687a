"""`graphkeras compile --tvm [--tune TRIALS]`: a checked TVM library next to each ONNX graph,
described in the manifest, runnable with TVM alone (no graphkeras) from the manifest."""
from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest

import graphkeras as gk
from graphkeras.cli import main
from graphkeras.deploy import read_state

tvm = pytest.importorskip("tvm", reason="apache-tvm is not installed (pip install graphkeras[tvm])")


def small_model():
    model = gk.Sequential([gk.layers.Dense(6, activation="relu", input_shape=(4,)),
                           gk.layers.Dropout(0.25), gk.layers.Dense(3)])
    model.compile(optimizer="adam",
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def compile_with(tmp_path, *extra):
    small_model().save(tmp_path / "m.h5")
    out = tmp_path / "out"
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(out), *extra]) == 0
    with open(out / "manifest.json") as f:
        return out, json.load(f)


def feeds_of(entry, state, batch, rng):
    """The train step's inputs from the manifest alone: data made up, state from state.bin."""
    feeds = {}
    for t in entry["inputs"]:
        if t["kind"] == "data":
            shape = [batch if d is None else d for d in t["shape"]]
            feeds[t["name"]] = (rng.integers(0, 3, shape) if t["role"] == "y" else
                                rng.standard_normal(shape)).astype(t["dtype"])
        else:
            feeds[t["name"]] = state[t["state"]]
    return feeds


def run_library(path, arrays):
    from tvm import relax
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(np.array(a, order="C")) for a in arrays])
    return [out[i].numpy() for i in range(len(out))]


def test_tvm_libraries_equal_the_onnx_graphs(tmp_path, capsys):
    out, manifest = compile_with(tmp_path, "--tvm")
    printed = capsys.readouterr().out
    assert "train_step.so" in printed and "TVM library" in printed
    for label, entry in manifest["graphs"].items():
        library = entry["tvm"]
        assert library["file"] == os.path.splitext(entry["file"])[0] + ".so"
        assert os.path.getsize(out / library["file"]) > 0
        assert library["batch_size"] is None and library["tuned_trials"] == 0
        assert library["max_abs_error"] < 1e-4
        # the library takes the ONNX graph's inputs, in the same order (predict: data only)
        assert library["inputs"] == [t["name"] for t in entry["inputs"]]
    assert manifest["tvm"]["version"] == tvm.__version__ and manifest["tvm"]["tuned"] is None
    assert manifest["graphs"]["predict"]["tvm"]["inputs"] == ["dense_input"]

    # three train steps from the manifest alone: the ONNX graph and the library agree
    state = read_state(out / "state.bin", manifest["state"]["tensors"])
    entry = manifest["graphs"]["train_step"]
    session = ort.InferenceSession(str(out / entry["file"]), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)
    onnx_state, tvm_state = dict(state), dict(state)
    for _ in range(3):
        batch = rng.integers(1, 6)
        data = feeds_of(entry, state, batch, rng)
        results = []
        for current in (onnx_state, tvm_state):
            feeds = {t["name"]: (current[t["state"]] if t["kind"] == "state" else data[t["name"]])
                     for t in entry["inputs"]}
            if current is onnx_state:
                got = session.run(names, feeds)
            else:
                got = run_library(out / entry["tvm"]["file"],
                                  [feeds[n] for n in entry["tvm"]["inputs"]])
            outputs = dict(zip(names, got))
            for t in entry["outputs"]:
                if t.get("feeds"):
                    current[next(i["state"] for i in entry["inputs"]
                                 if i["name"] == t["feeds"])] = outputs[t["name"]]
            results.append(got)
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for key in state:
        np.testing.assert_allclose(tvm_state[key], onnx_state[key], rtol=1e-4, atol=1e-5)
    assert not all(np.array_equal(tvm_state[k], state[k]) for k in state)  # it did train

    # the predict library carries its weights
    x = rng.standard_normal((5, 4)).astype(np.float32)
    predict = ort.InferenceSession(str(out / "predict.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(run_library(out / "predict.so", [x])[0],
                               predict.run(None, {"dense_input": x})[0], rtol=1e-4, atol=1e-5)


def test_tune_tunes_the_train_step_for_one_batch_size(tmp_path, monkeypatch):
    from graphkeras.runtime import tvm_executor
    calls = []

    def fake_tune(graph, trials, **kwargs):  # (real tuning takes minutes: tests/tvm tunes)
        calls.append((trials, kwargs["batch_size"]))
        return tvm_executor.build_module(graph, kwargs["target"], batch_size=kwargs["batch_size"],
                                         constants=kwargs.get("constants"))

    monkeypatch.setattr(tvm_executor, "tune", fake_tune)
    out, manifest = compile_with(tmp_path, "--tune", "24", "--batch-size", "4", "--target",
                                 "train")
    assert calls == [(24, 4)]
    assert manifest["tvm"]["tuned"] == "train_step"
    train, test = manifest["graphs"]["train_step"]["tvm"], manifest["graphs"]["test_step"]["tvm"]
    assert (train["tuned_trials"], train["batch_size"]) == (24, 4)
    assert (test["tuned_trials"], test["batch_size"]) == (0, 4)
    assert sorted(f for f in os.listdir(out) if f.endswith(".so")) == ["test_step.so",
                                                                     "train_step.so"]


def test_recompiling_without_tvm_removes_the_libraries(tmp_path):
    out, _ = compile_with(tmp_path, "--tvm", "--target", "predict")
    assert os.path.exists(out / "predict.so")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(out), "--target", "predict"]) == 0
    assert sorted(os.listdir(out)) == ["manifest.json", "predict.onnx"]
