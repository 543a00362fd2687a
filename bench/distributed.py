"""Data-parallel training speed: W1 on 1 and 2 Ray workers against one process.

Run: `.venv/bin/python bench/distributed.py` (needs the `distributed` extra; about a
minute on 2 cores). Options: `--steps N` steps per epoch (default 24), `--batch B`
global batch (default 256), `--workers 1,2` the worker counts, `--repeats R`.

W1 (bench/train.py): MLP 784-256-256-10 relu, sparse softmax cross-entropy from
logits, Adam 1e-3; here with a global batch of 256, 4 epochs of `--steps` batches
(the first traces the graphs and opens the sessions). Each configuration runs
`--repeats` times (default 3), interleaved; the figures are those of the fastest
epoch after the first of the fastest run (the machine is shared: the least
disturbed measurement).

Per configuration (the workers keep the training state resident; a step is
gradients on every worker, an all-reduce of them among the workers through the Ray
object store, and the optimizer update on every worker):
  samples/s   training throughput inside `fit` (verbose=0)
  step        wall time per step
  compute     the slowest worker's gradient-graph run per step (inside the worker)
  all-reduce  what moving and reducing the gradients costs per step: the time from
              submitting a step's calls to having their results, minus `compute`
              and `update` (task dispatch, the reduce-scatter and all-gather of the
              gradient chunks, the per-worker logs back to the driver)
    reduce      of which the slowest worker's sum of its chunk (reduce-scatter)
  update      the slowest worker's optimizer-update graph run per step
  sync        the trained state read back into the driver's model (once per epoch),
              per step
  bytes/worker  per step: 2 (N-1)/N x the gradient bytes (fp32) for the all-reduce;
              the state goes to the workers once per fit and comes back once per epoch

`1 process` is the ordinary single-process fit (the fused step graph, one ONNX
Runtime session using every core) for reference. The workers share the cores out:
1 worker runs ONNX Runtime with every core's thread, 2 workers with half each.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, ".")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graphkeras as gk  # noqa: E402
from train import data, w1  # noqa: E402  (bench/train.py's W1)


class EpochTimer(gk.callbacks.Callback):
    """Wall time of each epoch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def run(strategy, x, y, batch, epochs=4):
    """One fit; the figures of its fastest epoch after the first."""
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    if strategy is None:
        model = w1()
    else:
        with strategy.scope():
            model = w1()
    timer = EpochTimer()
    stats = []

    class Stats(gk.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if strategy is not None:
                strategy.stats.reset()

        def on_epoch_end(self, epoch, logs=None):
            if strategy is not None:
                stats.append(strategy.stats.as_dict())

    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[timer, Stats()])
    best = 1 + int(np.argmin(timer.times[1:]))
    seconds = timer.times[best]
    steps = -(-len(x) // batch)
    row = {"samples/s": len(x) / seconds, "step ms": 1e3 * seconds / steps}
    if strategy is not None:
        s = stats[best]
        n = s["steps"]
        row.update({"compute ms": 1e3 * s["compute"] / n,
                    "all-reduce ms": 1e3 * (s["gather"] - s["compute"] - s["update"]) / n,
                    "reduce ms": 1e3 * s["reduce"] / n,
                    "update ms": 1e3 * s["update"] / n,
                    "sync ms": 1e3 * (s["fetch"] + s["put"]) / n,
                    "sent MB": s["sent_bytes"] / 1e6})
    n_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return row, n_params


def best_of(rows):
    """The repeat with the highest throughput (this machine is shared: take the least
    disturbed run)."""
    return max(rows, key=lambda r: r["samples/s"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import ray
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    x, y = data("w1", args.steps * args.batch)
    counts = [int(v) for v in args.workers.split(",")]
    results = {None: []}
    results.update({n: [] for n in counts})
    n_params = 0
    for _ in range(args.repeats):  # interleaved, so a busy moment hurts every configuration
        row, n_params = run(None, x, y, args.batch)
        results[None].append(row)
        for n in counts:
            strategy = gk.distribute.DataParallel(num_workers=n)
            strategy.workers()
            results[n].append(run(strategy, x, y, args.batch)[0])
            strategy.shutdown()  # stops its workers (Ray was started here, it stays up)
    ray.shutdown()
    rows = [("1 process (fused step)", best_of(results[None]))] + \
        [(f"{n} worker{'s' if n > 1 else ''}", best_of(results[n])) for n in counts]
    mb = n_params * 4 / 1e6
    print(f"W1: {n_params} parameters; global batch {args.batch}; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("bytes per worker per step (all-reduce, 2(N-1)/N x gradients): " +
          ", ".join(f"N={n}: {2 * (n - 1) / n * mb:.3f} MB" for n in counts) +
          "; state sent to the workers in the measured epochs: "
          f"{max(r['sent MB'] for n in counts for r in results[n]):.3f} MB\n")
    cols = ["samples/s", "step ms", "compute ms", "all-reduce ms", "reduce ms", "update ms",
            "sync ms"]
    print("| configuration | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, row in rows:
        print(f"| {name} | " + " | ".join(f"{row[c]:.1f}" if c in row else "-" for c in cols)
              + " |")


if __name__ == "__main__":
    main()
