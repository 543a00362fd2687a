"""Predict speed: graphkeras against a raw onnxruntime session on the same graph.

Run: `make bench` (or `.venv/bin/python bench/predict.py`). Prints a table.

W1: MLP 784-256-256-10 relu. W2: CNN on 28x28x1 (Conv 32 3x3 relu, MaxPool 2, Conv 64 3x3
relu, MaxPool 2, Flatten, Dense 128 relu, Dense 10). For each: predict throughput at batch
1024 (samples/s, `model.predict`) and predict_on_batch latency at batch 1, each against a raw
`onnxruntime.InferenceSession` running the exported predict graph (weights embedded) in
the same process, interleaved, best of several repeats.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, ".")
import graphkeras as gk  # noqa: E402
from graphkeras.export import predict_onnx  # noqa: E402


def mlp():
    x = gk.Input((784,))
    h = gk.layers.Dense(256, activation="relu")(x)
    h = gk.layers.Dense(256, activation="relu")(h)
    return gk.Model(x, gk.layers.Dense(10)(h), name="W1_mlp")


def cnn():
    return gk.Sequential([
        gk.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Conv2D(64, 3, activation="relu"),
        gk.layers.MaxPooling2D(2),
        gk.layers.Flatten(),
        gk.layers.Dense(128, activation="relu"),
        gk.layers.Dense(10),
    ], name="W2_cnn")


def best_time(fn, repeats, number):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def bench(model, sample_shape, n_total=8192, big=1024):
    rng = np.random.default_rng(0)
    data = rng.random((n_total,) + sample_shape, dtype=np.float32)
    one = data[:1]
    raw = ort.InferenceSession(predict_onnx(model).SerializeToString(),
                               providers=["CPUExecutionProvider"])
    in_name = raw.get_inputs()[0].name
    assert np.allclose(raw.run(None, {in_name: data[:big]})[0], model.predict(data[:big], batch_size=big, verbose=0), atol=1e-4)

    def gk_throughput():
        model.predict(data, batch_size=big, verbose=0)

    def raw_throughput():
        for i in range(0, n_total, big):
            raw.run(None, {in_name: data[i:i + big]})

    def gk_latency():
        model.predict_on_batch(one)

    def raw_latency():
        raw.run(None, {in_name: one})

    for fn in (gk_throughput, raw_throughput, gk_latency, raw_latency):
        fn()  # warm up
    t_gk = t_raw = l_gk = l_raw = float("inf")
    for _ in range(3):  # interleave so both see the same machine state
        t_gk = min(t_gk, best_time(gk_throughput, 2, 1))
        t_raw = min(t_raw, best_time(raw_throughput, 2, 1))
        l_gk = min(l_gk, best_time(gk_latency, 3, 200))
        l_raw = min(l_raw, best_time(raw_latency, 3, 200))
    return {"thr_gk": n_total / t_gk, "thr_raw": n_total / t_raw,
            "lat_gk": l_gk * 1e6, "lat_raw": l_raw * 1e6}


def main():
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}")
    print(f"{'workload':10} {'thr gk/s':>10} {'thr raw/s':>10} {'ratio':>6} (>=0.95)   "
          f"{'lat gk us':>10} {'lat raw us':>10} {'ratio':>6} (<=2)")
    for name, build, shape in (("W1 MLP", mlp, (784,)), ("W2 CNN", cnn, (28, 28, 1))):
        r = bench(build(), shape)
        print(f"{name:10} {r['thr_gk']:10.0f} {r['thr_raw']:10.0f} {r['thr_gk'] / r['thr_raw']:6.3f}"
              f"            {r['lat_gk']:10.1f} {r['lat_raw']:10.1f} {r['lat_gk'] / r['lat_raw']:6.2f}")


if __name__ == "__main__":
    main()
