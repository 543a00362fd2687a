"""Save/load speed: graphkeras against plain h5py on the same arrays.

Run: `.venv/bin/python bench/saving.py [--repeats N]`. Prints a table.

The model: an MLP 1024-2048-2048-2048-10 (about 10.5M float32 parameters, 42 MB),
built but not compiled. For each format (`.h5`: tf.keras' layout; `.keras`: graphkeras'
zip with config, weights and the predict ONNX graph, whose weights are graph inputs stored
once, in the weights member) `model.save(path)` and
`gk.models.load_model(path)` are timed against writing the model's arrays
(`model.get_weights()`) to one HDF5 file with plain h5py (one dataset each) and reading
them back into numpy arrays. All runs are interleaved (baseline, then each graphkeras
operation, repeated, with a garbage collection before each) and the best of the repeats
is reported, so the page cache and the allocator are as warm for one as for the other —
once reusing the memory the previous run freed, once with it given back to the OS
(``malloc_trim``) so that every run writes into fresh pages, as a first load does; each
ratio is graphkeras' best time over
the baseline's best time (target: within 1.5x).

graphkeras' saves are atomic (temporary file, fsync, rename), so saves are also shown
against h5py's write followed by an fsync — the like-for-like baseline; its loads check
the file (sizes, link types, dtypes, shapes against the config, checksums of the native
format's members); plain h5py does none of this. A save that replaces a large file
leaves freeing the replaced file (its pages and blocks) to a background thread
(``graphkeras.saving.atomic``); each run waits for that, untimed, before it starts, so
that no run's background work lands in the next one's time. The machine's load
average is printed before and after: figures taken under load are noisy.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import logging
import os
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, ".")
import graphkeras as gk  # noqa: E402
from graphkeras.saving.atomic import wait_for_released_files  # noqa: E402


def build_model():
    inputs = gk.Input((1024,), name="x")
    h = inputs
    for i in range(3):
        h = gk.layers.Dense(2048, activation="relu", name=f"hidden_{i}")(h)
    return gk.Model(inputs, gk.layers.Dense(10, name="logits")(h), name="mlp_10m")


def h5py_write(arrays, path):
    with h5py.File(path, "w") as f:
        for i, a in enumerate(arrays):
            f.create_dataset(f"w{i}", data=a)


def h5py_write_durable(arrays, path):
    """The same, then flushed to the disk (graphkeras' saves fsync before renaming)."""
    h5py_write(arrays, path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_and_free(model, path):
    """``model.save(path)``, then waiting for the replaced file to be freed (which a save
    leaves to a background thread): the whole cost, as an in-place h5py write pays it."""
    model.save(path)
    wait_for_released_files()


def h5py_read(path, n):
    with h5py.File(path, "r") as f:
        return [f[f"w{i}"][()] for i in range(n)]


def _malloc_trim():
    """Give freed heap memory back to the OS (glibc), so the next run allocates fresh pages."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the "fresh memory" rows equal the others
        pass


def timed(fn, fresh_memory):
    gc.collect()  # a loaded model's layers hold cycles: free the last one before timing
    wait_for_released_files()  # the previous save's replaced file, freed in the background
    if fresh_memory:
        _malloc_trim()
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    del result
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    logging.getLogger("graphkeras").setLevel(logging.ERROR)  # "model was not compiled"

    load_before = os.getloadavg()
    model = build_model()
    arrays = model.get_weights()
    n_params = sum(a.size for a in arrays)
    nbytes = sum(a.nbytes for a in arrays)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMPDIR")) as tmp:
        raw = os.path.join(tmp, "raw.h5")
        paths = {fmt: os.path.join(tmp, f"model{fmt}") for fmt in (".h5", ".keras")}
        ops = {"h5py write": lambda: h5py_write(arrays, raw),
               "h5py read": lambda: h5py_read(raw, len(arrays)),
               "h5py write+fsync": lambda: h5py_write_durable(arrays, raw + ".durable")}
        for fmt, path in paths.items():
            ops[f"save {fmt}"] = lambda p=path: model.save(p)
            ops[f"save+free {fmt}"] = lambda p=path: save_and_free(model, p)
            ops[f"load {fmt}"] = lambda p=path: gk.models.load_model(p)
        for fn in ops.values():  # warm up: imports, first traces, files in the page cache
            fn()
        loaded = gk.models.load_model(paths[".keras"])
        for a, b in zip(arrays, loaded.get_weights()):
            assert np.array_equal(a, b)
        best = {(name, fresh): float("inf") for name in ops for fresh in (False, True)}
        for _ in range(args.repeats):
            for fresh in (False, True):
                for name, fn in ops.items():
                    best[name, fresh] = min(best[name, fresh], timed(fn, fresh))
        sizes = {fmt: os.path.getsize(p) for fmt, p in paths.items()}
        sizes["h5py"] = os.path.getsize(raw)

    load_after = os.getloadavg()
    print(f"model: {n_params / 1e6:.1f}M parameters, {nbytes / 2**20:.1f} MiB of weights; "
          f"best of {args.repeats}, interleaved; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after ({os.cpu_count()} CPUs)")
    print(f"{'operation':<18}{'graphkeras ms':>11}{'h5py ms':>10}{'ratio':>8}"
          f"{'h5py+fsync ms':>15}{'ratio':>8}{'file MiB':>10}")
    for fresh in (False, True):
        print("memory freed by the previous run reused:" if not fresh else
              "fresh memory (freed memory given back to the OS before each run):")
        durable = best["h5py write+fsync", fresh]
        for fmt in (".h5", ".keras"):
            for op, base in (("save", "h5py write"), ("save+free", "h5py write"),
                             ("load", "h5py read")):
                ours, plain = best[f"{op} {fmt}", fresh], best[base, fresh]
                against_durable = f"{durable * 1e3:>15.1f}{ours / durable:>7.2f}x" \
                    if op.startswith("save") else f"{'':>23}"
                print(f"  {op + ' ' + fmt:<16}{ours * 1e3:>11.1f}{plain * 1e3:>10.1f}"
                      f"{ours / plain:>7.2f}x{against_durable}{sizes[fmt] / 2**20:>10.1f}")
    print(f"(plain h5py file: {sizes['h5py'] / 2**20:.1f} MiB; the .keras file also holds the "
          "config and the predict ONNX graph, its weights stored once; save+free: the save "
          "and then the background freeing of the file it replaced)")


if __name__ == "__main__":
    main()
