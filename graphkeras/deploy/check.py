"""Self-checks of written artefacts: ``onnx.checker`` with full shape inference, then
each graph in a fresh ONNX Runtime session against the numpy reference interpreter
(:func:`graphkeras.compiler.interpreter.evaluate` on the same IR graph)."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort

from graphkeras.compiler.interpreter import evaluate
from graphkeras.deploy.loading import one_line
from graphkeras.deploy.specs import DeployError, example_array
from graphkeras.runtime.providers import session_providers

RTOL = 1e-3
ATOL = 1e-4  # times the largest reference value of the tensor, at least 1 (see compare)


def check_onnx(path):
    """``onnx.checker`` on the file with full (strict) shape inference."""
    label = os.path.basename(path)
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    except Exception as err:  # noqa: BLE001 - ValidationError, InferenceError, DecodeError...
        raise DeployError(f"{label}: onnx.checker failed: {one_line(err)}") from None


def open_checked_session(path, providers=None):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, options, providers=session_providers(providers))
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"{os.path.basename(path)}: onnxruntime cannot load it: "
                          f"{one_line(err)}") from None


def check_graph(path, graph, feeds_for, batches, providers=None):
    """Run the ONNX file at ``path`` and the IR ``graph`` on the same inputs at each batch
    size; ``feeds_for(batch)`` returns ``(onnx_feeds: dict, reference_inputs: list)``.
    Returns the largest absolute difference seen; raises :class:`DeployError` on a mismatch."""
    label = os.path.basename(path)
    session = open_checked_session(path, providers)
    names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for batch in batches:
        feeds, ref_inputs = feeds_for(batch)
        try:
            got = session.run(names, feeds)
        except Exception as err:  # noqa: BLE001
            raise DeployError(f"self-check failed: {label} does not run at batch {batch} in "
                              f"onnxruntime: {one_line(err)}") from None
        worst = max(worst, check_outputs(label, "onnxruntime", names, got,
                                         evaluate(graph, ref_inputs), batch))
    return worst


def check_outputs(label, runner, names, got, want, batch) -> float:
    """Compare the outputs ``runner`` gave for ``label`` with the numpy reference's;
    the largest absolute difference, or a :class:`DeployError` naming the output."""
    worst = 0.0
    for name, a, r in zip(names, got, want):
        a, r = np.asarray(a), np.asarray(r)
        if a.shape != r.shape:
            raise DeployError(f"self-check failed: {label} output {name!r} at batch {batch}: "
                              f"shape {a.shape} from {runner}, {r.shape} from the numpy "
                              "reference")
        ratio, err, tol = compare(a, r)
        if ratio > 1:
            raise DeployError(f"self-check failed: {label} output {name!r} at batch {batch}: "
                              f"max abs error {err:.3g} against the numpy reference "
                              f"(tolerance {tol:.3g})")
        if a.size and a.dtype.kind == "f":
            finite = np.isfinite(r)
            worst = max(worst, float(np.max(np.abs(a[finite] - r[finite]), initial=0.0)))
    return worst


def compare(got, ref):
    """``(error / tolerance, error, tolerance)`` at the element furthest out of tolerance
    (floats: ``ATOL * max(1, max|ref|) + RTOL * |ref|``); integers and bools must be equal.

    Not tighter for small tensors: where a gradient is exactly zero in exact arithmetic (a
    bias before BatchNormalization), float noise differs between the two runs, and Adam's
    ``m / (sqrt(v) + eps)`` turns noise of 1e-9 into an update of up to ~1% of the learning
    rate — a real, harmless difference of a few 1e-6 in the new weights."""
    if got.size == 0:
        return 0.0, 0.0, 0.0
    if got.dtype.kind not in "fc" or ref.dtype.kind not in "fc":
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        err = float(np.max(diff))
        return (np.inf if err else 0.0), err, 0.0
    g, r = got.astype(np.float64), ref.astype(np.float64)
    finite = np.isfinite(r)
    scale = float(np.max(np.abs(r[finite]))) if finite.any() else 1.0
    same = (g == r) | (np.isnan(g) & np.isnan(r))
    diff = np.nan_to_num(np.where(same, 0.0, np.abs(g - r)), nan=np.inf)
    allowed = ATOL * max(1.0, scale) + RTOL * np.abs(np.where(finite, r, 0.0))
    ratio = diff / allowed
    worst = int(np.argmax(ratio))
    return float(ratio.flat[worst]), float(diff.flat[worst]), float(allowed.flat[worst])


def data_arrays(specs, batch, seed=0):
    """``{name: array}`` of random data for ``[(name, shape, dtype, role, classes)]``."""
    rng = np.random.default_rng(seed + 1000 * batch)
    out = {}
    for name, shape, dtype, role, classes in specs:
        spec = (name, shape, dtype)
        if role in ("y", "sample_weight") and np.dtype(dtype).kind == "f":
            lo, hi = (0.5, 1.5) if role == "sample_weight" else (0.1, 1.0)
            out[name] = rng.uniform(lo, hi, tuple(batch if d is None else d for d in shape)) \
                .astype(dtype)
        else:
            out[name] = example_array(spec, batch, rng, classes=classes)
    return out
