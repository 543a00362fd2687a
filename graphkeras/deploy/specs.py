"""What a step's data looks like when no data is at hand: target specs derived from
the model's outputs and loss, and example batches for self-checks and benchmarks."""
from __future__ import annotations

import numpy as np


class DeployError(ValueError):
    """A model or file that cannot become deployment artefacts; the message is one line."""


def input_specs(model):
    specs = model._input_specs()
    if specs is None:
        raise DeployError(f"model {model.name!r} has no known input shape (build it, or start it "
                          "with an Input) so its graphs cannot be traced")
    return [(name, tuple(shape), dtype) for name, shape, dtype in specs]


def output_specs(predict_graph, model):
    names = model.output_names or [f"output_{i + 1}" for i in range(len(predict_graph.outputs))]
    return [(name, tuple(v.shape), v.dtype) for name, v in zip(names, predict_graph.outputs)]


def is_sparse_loss(spec) -> bool:
    """Whether loss ``spec`` (a name, function or Loss) takes integer class targets."""
    if spec is None:
        return False
    if isinstance(spec, str):
        return spec in ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")
    from graphkeras.engine.compile_utils import _loss_object
    try:
        loss = _loss_object(spec)
    except (ValueError, TypeError):
        return False
    fn = getattr(loss, "fn", None)
    names = {type(loss).__name__, getattr(fn, "__name__", ""), getattr(fn, "_registered_name", "")}
    return bool({"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"} & names)


def target_specs(model, outputs):
    """``[(name, shape, dtype)]``: one target per model output, as ``fit`` would take it.

    A sparse categorical cross-entropy output of shape ``(None, ..., C)`` takes int64
    class indices of shape ``(None, ...)``; any other output takes float32 targets of
    its own shape (what tf.keras' losses and metrics expect)."""
    from graphkeras.engine.compile_utils import _per_output
    loss = model._compiled_with[0] if getattr(model, "_compiled_with", None) else None
    names = [name for name, _, _ in outputs]
    try:
        losses = _per_output(loss, names, "loss")
    except ValueError as err:
        raise DeployError(str(err)) from None
    out = []
    for i, ((_, shape, _), spec) in enumerate(zip(outputs, losses)):
        name = f"y{i}" if len(outputs) > 1 else "y"
        if is_sparse_loss(spec) and len(shape) >= 2:
            out.append((name, tuple(shape[:-1]), "int64"))
        else:
            out.append((name, tuple(shape), "float32"))
    return out


def sample_weight_specs(n_outputs):
    return [(f"sample_weight{i}" if n_outputs > 1 else "sample_weight", (None,), "float32")
            for i in range(n_outputs)]


def concrete(shape, batch):
    return tuple(batch if d is None else int(d) for d in shape)


def example_array(spec, batch, rng, classes=None):
    """Random data for ``(name, shape, dtype)`` at ``batch`` rows: normal floats for model
    inputs, [0.1, 1) floats for targets and weights (valid for every loss), class indices
    below ``classes`` for integer targets, 0/1 for integer inputs (valid embedding ids)."""
    _, shape, dtype = spec
    shape = concrete(shape, batch)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, classes or 2, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def example_batch(x_specs, y_specs, sw_specs, outputs, batch, seed=0):
    """``(xs, ys, sws)`` of random arrays with ``batch`` rows."""
    rng = np.random.default_rng(seed)
    xs = [example_array(s, batch, rng) for s in x_specs]
    ys = []
    for spec, (_, out_shape, _) in zip(y_specs, outputs):
        if np.dtype(spec[2]).kind in "iu":
            classes = out_shape[-1] if out_shape and out_shape[-1] else 2
            ys.append(example_array(spec, batch, rng, classes=classes))
        else:
            ys.append(rng.uniform(0.1, 1.0, concrete(spec[1], batch)).astype(spec[2]))
    sws = [rng.uniform(0.5, 1.5, concrete(s[1], batch)).astype(np.float32) for s in sw_specs]
    return xs, ys, sws
