"""Deployment benchmarks (issue 6).

Run: `.venv/bin/python bench/deploy.py` (every section) or name sections:
`.venv/bin/python bench/deploy.py "cli compile"`.

Sections (one function each, registered in SECTIONS; each prints its own table):
  cli compile   wall time of `graphkeras compile MODEL -o DIR` (all targets, self-check
                included) in a fresh process, interpreter start to exit, for the W1 and W2
                models of bench/train.py saved as .h5, and the CPU time (user + sys) the
                process used (steadier than wall time on a busy machine). Target: W2 <= 5 s.
  tvm           fit step time with `compile(jit_compile=True)` (Apache TVM) for W1 and W2:
                untuned (graphkeras' default CPU schedules), then MetaSchedule-tuned (64 trials for the
                step's batch size, about 10 minutes per workload on 2 cores),
                each as a ratio to the ONNX Runtime fit step measured alongside (interleaved,
                best of 3). Target: tuned within 1.5x. Also the first step (trace, lower,
                build) on a cold cache, and "cached": the first step of a fresh model when
                the library is in the cache (as a second run starts). Needs
                `pip install graphkeras[tvm]`; tuning takes minutes.

Workloads: W1 MLP 784-256-256-10, W2 CNN on 28x28x1 (see bench/train.py).
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import train as workloads  # noqa: E402  (bench/train.py: w1, w2)


def _cli():
    """The console script next to this interpreter, else `python -m graphkeras.cli`."""
    script = os.path.join(os.path.dirname(sys.executable), "graphkeras")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "graphkeras.cli"]


def cli_compile(repeats: int = 3):
    """Wall time of `graphkeras compile` per workload (best and median of `repeats`)."""
    print("== cli compile: `graphkeras compile MODEL.h5 -o DIR` (all targets, self-checked), "
          "fresh process")
    print(f"{'':4} {'best':>8} {'median':>8} {'CPU':>8} {'target':>8}")
    folder = tempfile.mkdtemp(prefix="gk-bench-deploy-")
    rows = {}
    try:
        for name, build, target in (("W1", workloads.w1, None), ("W2", workloads.w2, 5.0)):
            path = os.path.join(folder, f"{name.lower()}.h5")
            build().save(path)
            times, cpu = [], []
            for i in range(repeats):
                out = os.path.join(folder, f"{name.lower()}_out{i}")
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                proc = subprocess.run(_cli() + ["compile", path, "-o", out],
                                      capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if proc.returncode != 0:
                    raise SystemExit(f"graphkeras compile failed: {proc.stderr.strip()}")
            rows[name] = (min(times), statistics.median(times), min(cpu))
            goal = f"{target:6.1f} s" if target else f"{'':>8}"
            print(f"{name:4} {min(times):6.2f} s {statistics.median(times):6.2f} s "
                  f"{min(cpu):6.2f} s {goal}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def _recompiled(build, jit):
    """A fresh workload model (bench/train.py), compiled as the workload does, on TVM if ``jit``."""
    import graphkeras as gk
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    model = build()
    config = dict(model._compile_config, jit_compile=jit)
    model.compile(**config)
    return model


def _interleaved(models, x, y, batch, rounds=3):
    """Per model, the best fit step time over ``rounds`` alternating measurements (a busy
    machine slows them all alike)."""
    best = [float("inf")] * len(models)
    for _ in range(rounds):
        for i, model in enumerate(models):
            best[i] = min(best[i], workloads.fit_step_time(model, x, y, batch, epochs=2))
    return best


def tvm_steps(trials: int = 64):
    """Train steps on TVM (`compile(jit_compile=True)`): untuned, then MetaSchedule-tuned with
    about `trials` trials for the step's batch size, each as a ratio to the ONNX Runtime step
    measured alongside. A fresh cache folder, so "untuned" is untuned."""
    import graphkeras as gk  # noqa: F401
    from graphkeras.runtime import tvm_executor
    tvm_executor.require_tvm()
    folder = tempfile.mkdtemp(prefix="gk-bench-tvm-")
    saved = os.environ.get("GRAPHKERAS_TVM_CACHE")
    os.environ["GRAPHKERAS_TVM_CACHE"] = folder
    print(f"== tvm: fit step on TVM / on ONNX Runtime, untuned and tuned ({trials} MetaSchedule "
          f"trials), target {tvm_executor.default_target()}")
    print(f"{'':4} {'ORT':>9} {'untuned':>9} {'ratio':>6} {'tuned':>9} {'ratio':>6} "
          f"{'first step':>10} {'cached':>10} {'tuning':>8} {'target':>7}")
    rows = {}
    try:
        for name, build, batch, n in (("W1", workloads.w1, 128, 128 * 20),
                                      ("W2", workloads.w2, 64, 64 * 10)):
            x, y = workloads.data(name.lower(), n)
            ort_model, jit_model = _recompiled(build, False), _recompiled(build, True)
            t0 = time.perf_counter()
            jit_model.train_on_batch(x[:batch], y[:batch])  # trace, lower, build: first step
            first = time.perf_counter() - t0
            t_ort, t_untuned = _interleaved([ort_model, jit_model], x, y, batch)
            tvm_executor._MEMORY.clear()  # as in a new process: the library comes from the cache
            warm_model = _recompiled(build, True)
            t0 = time.perf_counter()
            warm_model.train_on_batch(x[:batch], y[:batch])
            warm = time.perf_counter() - t0
            step = next(s for s in jit_model._steps.values() if s.kind == "train")
            t0 = time.perf_counter()
            tvm_executor.tune(step.graph, trials, batch_size=batch)
            tuning = time.perf_counter() - t0
            tuned_model = _recompiled(build, True)  # finds the tuned library for this batch
            t_ort2, t_tuned = _interleaved([ort_model, tuned_model], x, y, batch)
            t_ort = min(t_ort, t_ort2)
            rows[name] = dict(ort=t_ort, untuned=t_untuned, tuned=t_tuned, first=first,
                              cached_first=warm, tuning=tuning)
            print(f"{name:4} {t_ort * 1e3:7.2f}ms {t_untuned * 1e3:7.2f}ms {t_untuned / t_ort:6.2f} "
                  f"{t_tuned * 1e3:7.2f}ms {t_tuned / t_ort:6.2f} {first:9.2f}s {warm:9.2f}s "
                  f"{tuning:7.0f}s {'<= 1.5':>7}", flush=True)
    finally:
        if saved is None:
            os.environ.pop("GRAPHKERAS_TVM_CACHE", None)
        else:
            os.environ["GRAPHKERAS_TVM_CACHE"] = saved
        shutil.rmtree(folder, ignore_errors=True)
    return rows


SECTIONS = {"cli compile": cli_compile, "tvm": tvm_steps}


def main(argv=None):
    names = list(argv if argv is not None else sys.argv[1:]) or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; sections: {list(SECTIONS)}")
    import numpy as np
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    results = {}
    for name in names:
        results[name] = SECTIONS[name]()
    return results


if __name__ == "__main__":
    main()
