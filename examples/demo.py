"""graphkeras demo: train an MLP on scikit-learn's handwritten digits with the
tf.keras API, every step one ONNX Runtime call, then ship the artefacts.

1. Trains to >= 95% validation accuracy (progress bar and History as tf.keras).
2. Saves the model (JSON + weights), writes `predict.onnx` (weights embedded)
   and `train_step.onnx` (+ its state), and the CNN's predict graph.
3. Loads `predict.onnx` in plain onnxruntime and checks its predictions agree.

Run: `make demo` (writes demo_out/).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import graphkeras as gk  # noqa: E402

OUT = "demo_out"


def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = (data.images.reshape(len(data.images), 64) / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], y[order]


def mlp():
    inputs = gk.Input(shape=(64,), name="pixels")
    x = gk.layers.Dense(128, activation="relu")(inputs)
    x = gk.layers.Dropout(0.2)(x)
    x = gk.layers.Dense(64, activation="relu")(x)
    outputs = gk.layers.Dense(10, activation="softmax", name="digit")(x)
    return gk.Model(inputs, outputs, name="digits_mlp")


def cnn():
    return gk.Sequential([
        gk.layers.Conv2D(16, 3, activation="relu", input_shape=(8, 8, 1)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Flatten(),
        gk.layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")


def main():
    os.makedirs(OUT, exist_ok=True)
    gk.utils.set_random_seed(42)
    x, y = digits()
    model = mlp()
    model.summary()
    model.compile(optimizer=gk.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=30, validation_split=0.2, verbose=2,
                        callbacks=[gk.callbacks.EarlyStopping(monitor="val_accuracy", patience=5,
                                                              restore_best_weights=True)])
    seconds = time.perf_counter() - t0
    val_acc = max(history.history["val_accuracy"])
    steps = sum(1 for _ in history.history["loss"]) * int(np.ceil(len(x) * 0.8 / 32))
    print(f"\ntrained {len(history.history['loss'])} epochs in {seconds:.2f} s "
          f"({seconds / steps * 1e3:.2f} ms per step incl. validation); "
          f"best val_accuracy {val_acc:.4f}")
    if val_acc < 0.95:
        raise SystemExit(f"validation accuracy {val_acc:.4f} is below 0.95")

    # save: tf.keras-style JSON + weights, and the ONNX artefacts
    with open(os.path.join(OUT, "model.json"), "w") as f:
        f.write(model.to_json())
    np.savez(os.path.join(OUT, "weights.npz"), *model.get_weights())
    predict_path = gk.export.save_predict_onnx(model, os.path.join(OUT, "predict.onnx"))
    train_path = gk.export.save_step_onnx(model, os.path.join(OUT, "train_step.onnx"))

    # plain onnxruntime, no graphkeras, on the predict artefact
    session = ort.InferenceSession(predict_path, providers=["CPUExecutionProvider"])
    raw = session.run(None, {"pixels": x})[0]
    ours = model.predict(x, verbose=0)
    agree = float(np.mean(raw.argmax(1) == ours.argmax(1)))
    print(f"plain onnxruntime on {predict_path}: max |diff| = {np.abs(raw - ours).max():.2e}, "
          f"same class for {agree:.2%} of samples")
    if np.abs(raw - ours).max() > 1e-5:
        raise SystemExit("predict.onnx disagrees with graphkeras")

    # a reloaded model (JSON + weights) predicts the same
    with open(os.path.join(OUT, "model.json")) as f:
        clone = gk.models.model_from_json(f.read())
    with np.load(os.path.join(OUT, "weights.npz")) as w:
        clone.set_weights([w[f"arr_{i}"] for i in range(len(w.files))])
    print(f"reloaded model agrees: max |diff| = {np.abs(clone.predict(x, verbose=0) - ours).max():.2e}")

    # a small CNN on the same digits, exported too
    conv = cnn()
    conv.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = conv.fit(x.reshape(-1, 8, 8, 1), y, batch_size=64, epochs=5, validation_split=0.2, verbose=0)
    print(f"CNN: val_accuracy after 5 epochs {h.history['val_accuracy'][-1]:.4f}")
    gk.export.save_predict_onnx(conv, os.path.join(OUT, "cnn_predict.onnx"))
    with open(os.path.join(OUT, "history.json"), "w") as f:
        json.dump(history.history, f)
    print(f"\nartefacts in {OUT}/: " + ", ".join(sorted(os.listdir(OUT))))
    print(f"train_step.onnx: {train_path} (+ state), predict.onnx: {predict_path}")


if __name__ == "__main__":
    main()
