"""Sequence-model training speed (issue 7): LSTM(128) over length-50 sequences of 32
features, batch 64, regression head Dense(1), MSE, Adam.

Run: `.venv/bin/python bench/sequence.py [--runs N] [--threads 1,2]` (a few minutes on
2 cores).

Measured, per run and per thread count (default: 1 and the cores; the same count for
ONNX Runtime's intra-op pool and for torch):
  fit step   time per batch inside `fit` (epochs after the first, verbose=0, best epoch)
  raw        the same exported train-step graph (graphkeras.export.step_onnx) in a plain
             InferenceSession, state kept as OrtValues and fed back (bench/train.py's loop)
  torch      `torch.nn.LSTM` + `nn.Linear`, Adam, the same sizes and batches, forward +
             backward + step. torch is imported here if it can be, else run in
             `.venv-bench/bin/python` (a separate, git-ignored environment:
             `python3 -m venv .venv-bench && .venv-bench/bin/pip install torch`); without
             it the column says n/a.
  first step trace + lower + session creation + one step, on a fresh model

On a shared machine, numbers at more than one thread swing with the load of other
processes (the load average is printed); one-thread numbers are the stable comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCH, STEPS, FEATURES, UNITS, N_BATCHES = 64, 50, 32, 128, 20


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * N_BATCHES, STEPS, FEATURES)).astype(np.float32)
    y = rng.normal(size=(BATCH * N_BATCHES, 1)).astype(np.float32)
    return x, y


def threads():
    return int(os.environ.get("BENCH_THREADS", 0)) or max(1, (os.cpu_count() or 2))


# ----------------------------------------------------------------- torch
def torch_step_time(epochs=4):
    import torch
    torch.set_num_threads(threads())
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.head = torch.nn.Linear(UNITS, 1)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.head(y[:, -1])

    model = Model()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = (torch.from_numpy(a) for a in data())

    def epoch():
        for i in range(N_BATCHES):
            xb, yb = x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]
            opt.zero_grad()
            loss = torch.mean((model(xb) - yb) ** 2)
            loss.backward()
            opt.step()

    epoch()  # warm up
    best = float("inf")
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch()
        best = min(best, (time.perf_counter() - t0) / N_BATCHES)
    return best, torch.__version__, torch.get_num_threads()


def torch_in_subprocess():
    """(seconds per step, version, threads) from torch here or in .venv-bench; None if absent."""
    try:
        import torch  # noqa: F401
        return torch_step_time()
    except ImportError:
        pass
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python = os.path.join(root, ".venv-bench", "bin", "python")
    if not os.path.exists(python):
        return None
    out = subprocess.run([python, os.path.abspath(__file__), "--torch-only"], capture_output=True,
                         text=True, env={**os.environ, "BENCH_THREADS": str(threads())})
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return None
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------ graphkeras
def use_threads(n):
    """ONNX Runtime sessions opened from now on use ``n`` intra-op threads (graphkeras has
    no user setting for it; its default is ONNX Runtime's: the physical cores)."""
    from graphkeras.runtime import executor
    original = getattr(executor, "_bench_original_open", executor.open_session)
    executor._bench_original_open = original
    executor.open_session = lambda model, providers, threads=0: original(model, providers, n)


def build():
    import graphkeras as gk
    model = gk.Sequential([gk.Input((None, FEATURES)), gk.layers.LSTM(UNITS), gk.layers.Dense(1)])
    model.compile(optimizer=gk.optimizers.Adam(1e-3), loss="mse")
    return model


def fit_step_time(model, x, y, epochs=5):
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)  # compile, warm up
    best = float("inf")
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        best = min(best, (time.perf_counter() - t0) / N_BATCHES)
    return best


def raw_step_time(model, x, y, n_threads, repeats=5):
    """bench/train.py's raw loop (state as OrtValues fed back), at ``n_threads``."""
    import onnxruntime as ort
    from graphkeras.export import step_onnx
    graph, state = step_onnx(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    session = ort.InferenceSession(graph.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs() if i.name not in state]
    outputs = [o.name for o in session.get_outputs()]
    state = {k: ort.OrtValue.ortvalue_from_numpy(np.asarray(v)) for k, v in state.items()}
    feedback = {f"{k}/new": k for k in state}
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(N_BATCHES):
            sl = slice(i * BATCH, (i + 1) * BATCH)
            feeds = {names[0]: ort.OrtValue.ortvalue_from_numpy(x[sl]),
                     names[1]: ort.OrtValue.ortvalue_from_numpy(y[sl]), **state}
            result = session.run_with_ort_values(outputs, feeds)
            for name, value in zip(outputs, result):
                key = feedback.get(name)
                if key is not None:
                    state[key] = value
        best = min(best, (time.perf_counter() - t0) / N_BATCHES)
    return best


def graphkeras_times(n_threads):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    use_threads(n_threads)
    x, y = data()
    model = build()
    t0 = time.perf_counter()
    model.train_on_batch(x[:BATCH], y[:BATCH])
    first = time.perf_counter() - t0
    return fit_step_time(model, x, y), raw_step_time(model, x, y, n_threads), first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default: 1 and the cores)")
    parser.add_argument("--torch-only", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    if args.torch_only:
        print(json.dumps(list(torch_step_time())))
        return
    import onnxruntime as ort
    counts = [int(t) for t in args.threads.split(",")] if args.threads else \
        sorted({1, os.cpu_count() or 1})
    print(f"LSTM({UNITS}) on ({BATCH}, {STEPS}, {FEATURES}), Dense(1), MSE, Adam; onnxruntime "
          f"{ort.__version__}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'run':>4} {'threads':>7} {'fit step':>10} {'raw run':>10} {'fit/raw':>8} "
          f"{'torch':>10} {'fit/torch':>10} {'first step':>11}")
    version = None
    for run in range(args.runs):
        for n in counts:
            os.environ["BENCH_THREADS"] = str(n)
            fit_t, raw_t, first = graphkeras_times(n)
            torch_t = None if args.no_torch else torch_in_subprocess()
            version = torch_t[1] if torch_t else version
            t = f"{torch_t[0] * 1e3:8.3f}ms" if torch_t else f"{'n/a':>10}"
            r = f"{fit_t / torch_t[0]:10.2f}" if torch_t else f"{'n/a':>10}"
            print(f"{run:4d} {n:7d} {fit_t * 1e3:8.3f}ms {raw_t * 1e3:8.3f}ms {fit_t / raw_t:8.2f} "
                  f"{t} {r} {first:10.3f}s", flush=True)
    if version:
        print(f"torch {version}")
    elif not args.no_torch:
        print("torch: not installed (pip install torch into .venv-bench to compare)")


if __name__ == "__main__":
    main()
