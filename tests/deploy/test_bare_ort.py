"""train_step.onnx driven from bare onnxruntime (examples/train_step_bare_ort.py, in a process
that cannot import graphkeras) reaches the weights graphkeras' own training reaches."""
import json
import os
import subprocess
import sys

import numpy as np

import graphkeras as gk
from graphkeras.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "train_step_bare_ort.py")
# graphkeras cannot be imported in the child, and nothing under it is loaded at the end
BLOCKED = ("import sys, runpy; sys.modules['graphkeras'] = None; sys.argv = sys.argv[1:]; "
           "runpy.run_path(sys.argv[0], run_name='__main__'); "
           "loaded = [m for m, v in sys.modules.items() if m.split('.')[0] == 'graphkeras' "
           "and v is not None]; assert not loaded, loaded")


def run_example(folder, data, steps, batch_size, save):
    proc = subprocess.run([sys.executable, "-c", BLOCKED, EXAMPLE, str(folder), "--data",
                           str(data), "--steps", str(steps), "--batch-size", str(batch_size),
                           "--save", str(save)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def small_model():
    model = gk.Sequential([gk.layers.Dense(8, activation="relu", input_shape=(5,)),
                           gk.layers.Dropout(0.25),
                           gk.layers.BatchNormalization(),
                           gk.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=gk.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_bare_onnxruntime_matches_fit(tmp_path, rng):
    small_model().save(tmp_path / "m.keras")
    assert main(["compile", str(tmp_path / "m.keras"), "-o", str(tmp_path / "out")]) == 0
    x = rng.standard_normal((48, 5)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    np.savez(tmp_path / "data.npz", dense_input=x, y=y)
    result = run_example(tmp_path / "out", tmp_path / "data.npz", 9, 16, tmp_path / "final.npz")
    final = dict(np.load(tmp_path / "final.npz"))

    model = gk.models.load_model(tmp_path / "m.keras")  # same weights and dropout seed
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert len(model.weights) == 8
    for var in model.weights:  # trainable weights and BatchNormalization's moving statistics
        np.testing.assert_allclose(final[var.path], var.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=var.path)
    assert int(final["iteration"]) == 9 == int(model.optimizer.iterations.numpy())
    assert final["dropout/seed_generator"] == model.layers[1]._rng.state.numpy()
    np.testing.assert_allclose(result["logs"]["loss"], history.history["loss"][-1], rtol=1e-5)
    np.testing.assert_allclose(result["logs"]["accuracy"], history.history["accuracy"][-1],
                               rtol=1e-6)

    # predict_from_state.onnx with the trained state predicts what the trained model does
    import onnxruntime as ort
    with open(tmp_path / "out" / "manifest.json") as f:
        entry = json.load(f)["graphs"]["predict_from_state"]
    feeds = {t["name"]: final[t["state"]] for t in entry["inputs"] if t["kind"] == "state"}
    assert len(feeds) == 8
    feeds["dense_input"] = x
    session = ort.InferenceSession(str(tmp_path / "out" / entry["file"]),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, feeds)[0], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_fixed_batch_artefacts_match_train_on_batch(tmp_path, rng):
    model = gk.Sequential([gk.layers.Dense(4, activation="tanh", input_shape=(3,)),
                           gk.layers.Dense(2)])
    model.compile(optimizer=gk.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.save(tmp_path / "m.h5")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "out"),
                 "--batch-size", "8", "--target", "train"]) == 0
    assert not os.path.exists(tmp_path / "out" / "predict.onnx")
    x = rng.standard_normal((24, 3)).astype(np.float32)
    y = rng.standard_normal((24, 2)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    run_example(tmp_path / "out", tmp_path / "data.npz", 5, 8, tmp_path / "final.npz")
    final = dict(np.load(tmp_path / "final.npz"))

    model = gk.models.load_model(tmp_path / "m.h5")
    for i in range(5):
        rows = slice(8 * (i % 3), 8 * (i % 3) + 8)
        model.train_on_batch(x[rows], y[rows])
    for var in model.trainable_weights:
        np.testing.assert_allclose(final[var.path], var.numpy(), rtol=1e-5, atol=1e-6)
    momentum = [v for v in model.optimizer.variables if v.path.startswith("SGD/m/")]
    assert momentum and all(np.allclose(final[v.path], v.numpy(), atol=1e-6) for v in momentum)


def test_artefacts_use_standard_onnx_only(tmp_path):
    import onnx
    small_model().save(tmp_path / "m.keras")
    assert main(["compile", str(tmp_path / "m.keras"), "-o", str(tmp_path / "out")]) == 0
    for graph in ("predict", "predict_from_state", "train_step", "test_step"):
        proto = onnx.load(str(tmp_path / "out" / f"{graph}.onnx"))
        assert {o.domain for o in proto.opset_import} <= {"", "ai.onnx"}
        assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
