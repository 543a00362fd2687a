"""Writing compiled graphs as self-contained ONNX artefacts."""
from __future__ import annotations

import io

import numpy as np

from graphkeras.saving.atomic import atomic_write_bytes


def predict_onnx(model, opset: int | None = None):
    """The model's inference graph as an ONNX ModelProto with its weights embedded.

    Inputs keep the model's input names, with a dynamic batch dimension; outputs
    are named after the model's outputs. Any ONNX runtime can run it.
    """
    model.make_predict_function()
    return model._predict_graph.onnx_model(embed_weights=True, opset=opset)


def save_predict_onnx(model, path: str, opset: int | None = None) -> str:
    """Write :func:`predict_onnx` to ``path`` (atomically); returns the path."""
    atomic_write_bytes(path, predict_onnx(model, opset).SerializeToString())
    return path


def _train_step(model, kind="train"):
    steps = [s for key, s in getattr(model, "_steps", {}).items() if key[0] == kind]
    if not steps:
        raise ValueError(f"The model has no compiled {kind} step yet: call `fit`, `train_on_batch` "
                         "(or `evaluate` for the test step) once first, so the data shapes are known.")
    return steps[-1]


def step_onnx(model, kind="train", opset: int | None = None):
    """The model's fused ``train`` (or ``test``) step as ONNX, and its current state.

    Returns ``(onnx_model, state)`` where ``state`` maps each state input name to
    its value now. Feed data and state in; the ``<name>/new`` outputs are the
    state for the next step (see graphkeras.engine.steps for the convention).
    """
    step = _train_step(model, kind)
    state = {name: np.asarray(var.numpy()) for name, var in zip(step.state_names, step.read)}
    return step.onnx_model(opset=opset), state


def save_step_onnx(model, path: str, kind="train", opset: int | None = None) -> str:
    """Write :func:`step_onnx`: the graph to ``path`` and its state to ``path`` with
    ``.state.npz`` in place of ``.onnx`` (arrays keyed by input name); returns ``path``."""
    graph, state = step_onnx(model, kind, opset)
    atomic_write_bytes(path, graph.SerializeToString())
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    atomic_write_bytes(_state_path(path), buffer.getvalue())
    return path


def _state_path(path):
    return (path[:-5] if path.endswith(".onnx") else path) + ".state.npz"
