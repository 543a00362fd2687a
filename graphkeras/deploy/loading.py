"""Opening a model file of any kind graphkeras writes or reads, with one-line errors."""
from __future__ import annotations

import json
import os

import numpy as np

from graphkeras.deploy.specs import DeployError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def one_line(err) -> str:
    """An exception's message on one line (error output stays one line)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def load_model_file(path, weights=None):
    """The model in ``path``: a ``.h5`` file (tf.keras' layout), a ``.keras`` file, a saved
    folder, or model JSON (``to_json()``; then ``weights`` may name an ``.npz`` of
    ``get_weights()`` arrays or an HDF5 weights file). Raises :class:`DeployError`."""
    import graphkeras as gk
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DeployError(f"cannot read {path}: No such file or directory")
    if os.path.isdir(path):
        kind = "saved model folder"
    else:
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as err:
            raise DeployError(f"cannot read {path}: {err.strerror}") from None
        kind = "HDF5 model" if head == HDF5_MAGIC else \
            (".keras model" if head.startswith(ZIP_MAGIC) else None)
    if kind is None:
        model = _from_json(path)
    else:
        try:
            model = gk.models.load_model(path)
        except Exception as err:  # noqa: BLE001 - any failure to read is one clear line
            raise DeployError(f"{path} is not a {kind} graphkeras can read: {one_line(err)}") \
                from None
    if weights:
        _load_weights(model, os.fspath(weights))
    return model


def _from_json(path):
    import graphkeras as gk
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise DeployError(f"{path} is not a model file graphkeras can read (expected .h5, "
                          ".keras, a saved model folder or model JSON)") from None
    except OSError as err:
        raise DeployError(f"cannot read {path}: {err.strerror}") from None
    try:
        return gk.models.model_from_json(text)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as err:
        raise DeployError(f"{path} is not a model JSON graphkeras can read: {one_line(err)}") \
            from None


def _load_weights(model, weights):
    try:
        with open(weights, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise DeployError(f"cannot read weights from {weights}: {err.strerror}") from None
    if head == HDF5_MAGIC:
        try:
            model.load_weights(weights)
        except Exception as err:  # noqa: BLE001
            raise DeployError(f"weights in {weights} do not fit the model: {one_line(err)}") \
                from None
        return
    try:
        with np.load(weights, allow_pickle=False) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError) as err:
        raise DeployError(f"cannot read weights from {weights}: {one_line(err)}") from None
    try:
        model.set_weights(arrays)
    except ValueError as err:
        raise DeployError(f"weights in {weights} do not fit the model: {one_line(err)}") from None


def has_training_config(model) -> bool:
    return bool(getattr(model, "_is_compiled", False)) and getattr(model, "optimizer", None) \
        is not None
