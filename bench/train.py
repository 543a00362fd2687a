"""Training speed: graphkeras' fit step against the raw train-step graph and the GEMM limit.

Run: `.venv/bin/python bench/train.py` (prints a table; a few minutes on 2 cores).

Workloads (issue 4):
  W1  MLP 784-256-256-10 relu, sparse softmax cross-entropy, Adam 1e-3, batch 128
  W2  CNN Conv2D(32,3x3,relu) -> MaxPool 2 -> Conv2D(64,3x3,relu) -> MaxPool 2 -> Flatten
      -> Dense 128 relu -> Dense 10 on 28x28x1, Adam, batch 64
  W3  linear 20 -> 1, MSE, SGD 0.01, batch 32; steps_per_execution 32 vs 1

Measured in one run, per workload:
  fit step   time per batch inside `fit` (epochs after the first, verbose=0)
  raw        the same exported train-step graph in a plain InferenceSession, state kept
             as OrtValues and fed back (`run_with_ort_values`), same batches
  GEMM limit the step's matrix products (forward and backward, convolutions as
             im2col products) timed as numpy matmuls at the step's own shapes
  first step trace + lower + session creation + one step, on a fresh model
"""
from __future__ import annotations

import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, ".")
import graphkeras as gk  # noqa: E402
from graphkeras.deploy.gemm import gemm_limit as numpy_gemm_limit  # noqa: E402
from graphkeras.export import step_onnx  # noqa: E402


def w1():
    x = gk.Input((784,))
    h = gk.layers.Dense(256, activation="relu")(x)
    h = gk.layers.Dense(256, activation="relu")(h)
    model = gk.Model(x, gk.layers.Dense(10)(h))
    model.compile(optimizer=gk.optimizers.Adam(1e-3),
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def w2():
    model = gk.Sequential([
        gk.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Conv2D(64, 3, activation="relu"),
        gk.layers.MaxPooling2D(2),
        gk.layers.Flatten(),
        gk.layers.Dense(128, activation="relu"),
        gk.layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def w3(spe=1):
    model = gk.Sequential([gk.layers.Dense(1, input_shape=(20,))])
    model.compile(optimizer=gk.optimizers.SGD(0.01), loss="mse", steps_per_execution=spe)
    return model


def data(kind, n):
    rng = np.random.default_rng(0)
    if kind == "w1":
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)
    if kind == "w2":
        return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
    return rng.random((n, 20), dtype=np.float32), rng.random((n, 1), dtype=np.float32)


# (m, k, n) products of one step: forward, and backward dW (and dX where it flows)
GEMMS = {
    "w1": lambda b: [(b, 784, 256), (b, 256, 256), (b, 256, 10),            # forward
                     (784, b, 256), (256, b, 256), (256, b, 10),            # dW
                     (b, 10, 256), (b, 256, 256)],                          # dX
    "w2": lambda b: [(b * 26 * 26, 9, 32), (b * 11 * 11, 288, 64), (b, 1600, 128), (b, 128, 10),
                     (9, b * 26 * 26, 32), (288, b * 11 * 11, 64), (1600, b, 128), (128, b, 10),
                     (b * 11 * 11, 64, 288), (b, 128, 1600), (b, 10, 128)],
    "w3": lambda b: [(b, 20, 1), (20, b, 1)],
}


def gemm_limit(kind, batch):
    """The products of GEMMS timed by the shared helper (`graphkeras bench` uses it too, with
    the shapes read off the step graph: graphkeras.deploy.gemm.gemm_shapes gives these)."""
    return numpy_gemm_limit(GEMMS[kind](batch))


def fit_step_time(model, x, y, batch, epochs=4):
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)  # compile + warm up
    steps = len(x) // batch
    best = float("inf")
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def raw_step_time(model, x, y, batch, repeats=3):
    """The same graph in a plain InferenceSession, state kept as OrtValues and fed
    back with ``run_with_ort_values`` (the fastest plain-API loop)."""
    graph, state = step_onnx(model)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs() if i.name not in state]
    outputs = [o.name for o in session.get_outputs()]
    state = {k: ort.OrtValue.ortvalue_from_numpy(np.asarray(v)) for k, v in state.items()}
    feedback = {f"{k}/new": k for k in state}
    y = np.asarray(y) if y.dtype != np.float64 else y.astype(np.float32)
    steps = len(x) // batch
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(steps):
            sl = slice(i * batch, (i + 1) * batch)
            feeds = {names[0]: ort.OrtValue.ortvalue_from_numpy(x[sl]),
                     names[1]: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(y[sl])), **state}
            result = session.run_with_ort_values(outputs, feeds)
            for name, value in zip(outputs, result):
                key = feedback.get(name)
                if key is not None:
                    state[key] = value
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def first_step_time(build, x, y, batch):
    gk.backend.clear_session()
    model = build()
    t0 = time.perf_counter()
    model.train_on_batch(x[:batch], y[:batch])
    return time.perf_counter() - t0


def main():
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}")
    rows = []
    for kind, build, batch, n, target in (("w1", w1, 128, 128 * 40, 1.85e-3),
                                          ("w2", w2, 64, 64 * 20, 17.4e-3)):
        x, y = data(kind, n)
        first = first_step_time(build, x, y, batch)
        model = build()
        fit_t = fit_step_time(model, x, y, batch)
        raw_t = raw_step_time(model, x, y, batch)
        rows.append([kind.upper(), fit_t, raw_t, None, first, target])
    # numpy's BLAS threads keep spinning after a product and would slow the steps
    # measured after them, so the GEMM limits come last
    for row, (kind, batch) in zip(rows, (("w1", 128), ("w2", 64))):
        row[3] = gemm_limit(kind, batch)
    print(f"{'':4} {'fit step':>10} {'raw run':>10} {'fit/raw':>8} {'GEMM limit':>11} "
          f"{'fit/GEMM':>9} {'first step':>11} {'target':>9}")
    for name, fit_t, raw_t, limit, first, target in rows:
        print(f"{name:4} {fit_t * 1e3:8.3f}ms {raw_t * 1e3:8.3f}ms {fit_t / raw_t:8.2f} "
              f"{limit * 1e3:9.3f}ms {fit_t / limit:9.2f} {first:10.3f}s {target * 1e3:7.2f}ms")
    x, y = data("w3", 32 * 320)
    times = {}
    for spe in (1, 32):
        times[spe] = fit_step_time(w3(spe), x, y, 32)
    print(f"W3   steps_per_execution=1: {times[1] * 1e3:.4f} ms/step, =32: {times[32] * 1e3:.4f} "
          f"ms/step (ratio {times[1] / times[32]:.1f}x; target <= 0.02 ms/step)")


if __name__ == "__main__":
    main()
