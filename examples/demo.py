"""graphkeras demo: build an MLP and a CNN with the tf.keras API, predict with the
compiled ONNX graphs, print their summaries, and write each predict graph as a
self-contained ONNX artefact that plain onnxruntime runs to the same numbers.

Run: `make demo` (writes demo_out/).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import graphkeras as gk  # noqa: E402

OUT = "demo_out"


def mlp():
    inputs = gk.Input(shape=(64,), name="pixels")
    x = gk.layers.Dense(128, activation="relu")(inputs)
    x = gk.layers.Dropout(0.2)(x)
    x = gk.layers.Dense(64, activation="relu")(x)
    outputs = gk.layers.Dense(10, activation="softmax", name="digit")(x)
    return gk.Model(inputs, outputs, name="mlp")


def cnn():
    return gk.Sequential([
        gk.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Conv2D(64, 3, activation="relu"),
        gk.layers.MaxPooling2D(2),
        gk.layers.Flatten(),
        gk.layers.Dense(128, activation="relu"),
        gk.layers.Dense(10, activation="softmax"),
    ], name="cnn")


def run(model, data):
    model.summary()
    t0 = time.perf_counter()
    probs = model.predict(data, batch_size=256, verbose=1)
    elapsed = time.perf_counter() - t0
    path = gk.export.save_predict_onnx(model, os.path.join(OUT, f"{model.name}_predict.onnx"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    raw = session.run(None, {session.get_inputs()[0].name: data})[0]
    eager = model.predict(data[:64], verbose=0)
    model.run_eagerly = True
    eager_ref = model.predict(data[:64], verbose=0)
    model.run_eagerly = False
    print(f"{model.name}: predicted {len(data)} samples in {elapsed * 1e3:.1f} ms; "
          f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")
    print(f"  plain onnxruntime on the artefact agrees: max |diff| = {np.abs(raw - probs).max():.2e}")
    print(f"  numpy reference interpreter agrees:       max |diff| = {np.abs(eager - eager_ref).max():.2e}")
    print()
    return np.abs(raw - probs).max()


def main():
    os.makedirs(OUT, exist_ok=True)
    gk.utils.set_random_seed(42)
    rng = np.random.default_rng(0)
    worst = max(run(mlp(), rng.random((2048, 64), dtype=np.float32)),
                run(cnn(), rng.random((1024, 28, 28, 1), dtype=np.float32)))
    if worst > 1e-5:
        raise SystemExit(f"artefact disagrees with graphkeras by {worst}")
    print(f"artefacts in {OUT}/: " + ", ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    main()
