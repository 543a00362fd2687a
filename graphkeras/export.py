"""Writing compiled graphs as self-contained ONNX artefacts."""
from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old file or the new one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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
