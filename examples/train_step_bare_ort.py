"""Keep training a graphkeras model with nothing but ONNX Runtime and numpy.

    graphkeras compile model.keras -o artefacts/
    python examples/train_step_bare_ort.py artefacts/ --data data.npz --steps 100 \\
        --batch-size 32 --save trained.npz

This file does not import graphkeras: it is what runs on a deployment target. It reads
``artefacts/manifest.json``, the initial state from ``artefacts/state.bin`` (raw
little-endian tensors at the offsets the manifest gives) and drives
``train_step.onnx``: each step feeds one batch and the whole state, then each output
named in the manifest's ``feedback`` becomes the input it names for the next step.
Batches are taken in order (as ``fit(..., shuffle=False)``); metric accumulators are
reset at each pass over the data, so the logs are ``fit``'s running epoch means.

``--data`` is an ``.npz`` whose arrays are named after the step's data inputs (the
manifest's inputs of kind ``data``; ``x`` also names a model's only input). Without
it, random data of the right shapes is used. The same loop in C, C#, Java and
JavaScript is described in the README ("Deployment artefacts").
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort


def load_state(folder, manifest):
    """``{state name: array}`` from the state file."""
    info = manifest["state"]
    with open(os.path.join(folder, info["file"]), "rb") as f:
        blob = f.read()
    state = {}
    for t in info["tensors"]:
        dtype = np.dtype(t["dtype"]).newbyteorder("<")
        count = int(np.prod(t["shape"], dtype=np.int64))
        array = np.frombuffer(blob, dtype=dtype, count=count, offset=t["offset"])
        state[t["name"]] = array.reshape(t["shape"]).astype(t["dtype"])  # native order, a copy
    return state


def load_data(path, data_inputs, rng, batch_size):
    """``{input name: array}`` for the step's data inputs."""
    if path is None:  # random data of the right shapes: 4 batches
        out = {}
        for t in data_inputs:
            shape = [4 * batch_size if d is None or i == 0 else d for i, d in enumerate(t["shape"])]
            if t["dtype"].startswith("int"):
                out[t["name"]] = rng.integers(0, 2, shape).astype(t["dtype"])
            else:
                out[t["name"]] = rng.random(shape).astype(t["dtype"])
        return out
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    xs = [t for t in data_inputs if t["role"] == "x"]
    if len(xs) == 1 and xs[0]["name"] not in arrays and "x" in arrays:
        arrays[xs[0]["name"]] = arrays["x"]
    out = {}
    for t in data_inputs:
        if t["name"] in arrays:
            out[t["name"]] = np.ascontiguousarray(arrays[t["name"]], dtype=t["dtype"])
        elif t["role"] == "sample_weight":
            out[t["name"]] = None  # filled with ones per batch
        else:
            sys.exit(f"{path} has no array {t['name']!r} (it holds {sorted(arrays)})")
    return out


def train(folder, data=None, steps=10, batch_size=32, providers=("CPUExecutionProvider",),
          seed=0, log_every=0):
    """Run ``steps`` train steps; returns ``(final state, last logs)``."""
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    step = manifest["graphs"]["train_step"]
    fixed = step.get("batch_size")
    batch_size = fixed or batch_size
    session = ort.InferenceSession(os.path.join(folder, step["file"]), providers=list(providers))

    state = load_state(folder, manifest)
    initial = {k: v.copy() for k, v in state.items()}
    data_inputs = [t for t in step["inputs"] if t["kind"] == "data"]
    state_inputs = {t["name"]: t["state"] for t in step["inputs"] if t["kind"] == "state"}
    metrics = [t["state"] for t in step["inputs"] if t["kind"] == "state" and t["role"] == "metric"]
    output_names = [t["name"] for t in step["outputs"]]
    log_names = [t["name"] for t in step["outputs"] if t["kind"] == "log"]
    feedback = step["feedback"]  # output name -> input name

    arrays = load_data(data, data_inputs, np.random.default_rng(seed), batch_size)
    n = len(next(a for a in arrays.values() if a is not None))
    per_pass = n // batch_size if fixed else math.ceil(n / batch_size)
    if per_pass == 0:
        sys.exit(f"the data has {n} samples: fewer than one batch of {batch_size}")
    logs = {}
    for i in range(steps):
        b = i % per_pass
        if b == 0:  # a new pass over the data (an epoch): metrics start again
            for key in metrics:
                state[key] = initial[key].copy()
        rows = slice(b * batch_size, min((b + 1) * batch_size, n))
        feeds = {}
        for t in data_inputs:
            a = arrays[t["name"]]
            feeds[t["name"]] = a[rows] if a is not None else \
                np.ones((rows.stop - rows.start,), np.float32)
        feeds.update({name: state[key] for name, key in state_inputs.items()})
        results = dict(zip(output_names, session.run(output_names, feeds)))
        for out_name, in_name in feedback.items():
            state[state_inputs[in_name]] = results[out_name]
        logs = {name: results[name].tolist() for name in log_names}
        if log_every and (i + 1) % log_every == 0:
            print(f"step {i + 1}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else
                                                f"{k} {v}" for k, v in logs.items()))
    return state, logs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="what `graphkeras compile` wrote")
    parser.add_argument("--data", help=".npz with arrays named after the data inputs")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--save", help="write the final state here (.npz, keyed by state name)")
    parser.add_argument("--provider", default="CPUExecutionProvider",
                        help="e.g. CUDAExecutionProvider (CPU is kept as fallback)")
    parser.add_argument("--log-every", type=int, default=0)
    args = parser.parse_args(argv)
    providers = [args.provider] + (["CPUExecutionProvider"]
                                   if args.provider != "CPUExecutionProvider" else [])
    state, logs = train(args.folder, args.data, args.steps, args.batch_size, providers,
                        log_every=args.log_every)
    if args.save:
        np.savez(args.save, **state)
    print(json.dumps({"steps": args.steps, "logs": logs}))


if __name__ == "__main__":
    main()
