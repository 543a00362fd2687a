"""Saving and loading models and weights.

Formats, chosen by the path (or ``save_format``):

* ``.h5`` / ``.hdf5`` / ``.keras.h5``: tf.keras' HDF5 layout (``model_config``,
  ``training_config``, ``model_weights``, ``optimizer_weights``), readable by
  tf.keras 2.x; tf.keras' files load here without TensorFlow (:mod:`.hdf5`).
* ``.keras`` (one file) or a directory: graphkeras' own format, the JSON config
  or traced IR, weights, optimizer and metric state, and the compiled ONNX
  graphs with a manifest (:mod:`.native`); :func:`load_graph` and
  :func:`load_predict_onnx` read a saved graph back with its state, to run it on
  any ONNX runtime (:mod:`.graphs`).

Every write goes to a temporary file in the same folder, then is renamed over
the target, so a crash leaves the previous file whole. Loading never runs code
from the file: no pickle, no eval; classes are found by registered name.
"""
from __future__ import annotations

import os

H5_SUFFIXES = (".h5", ".hdf5")


def is_hdf5_path(filepath, save_format=None) -> bool:
    if save_format is not None:
        return save_format in ("h5", "hdf5")
    return str(filepath).endswith(H5_SUFFIXES)


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None,
               signatures=None, options=None, save_traces=True):
    filepath = os.fspath(filepath)
    if save_format not in (None, "h5", "hdf5", "keras", "tf"):
        raise ValueError(f"Unknown `save_format`: {save_format!r}. Expected 'h5' or 'keras'.")
    if not overwrite and os.path.exists(filepath):
        if not _ask_to_overwrite(filepath):
            return
    if is_hdf5_path(filepath, save_format):
        from graphkeras.saving import hdf5
        hdf5.save_model(model, filepath, include_optimizer=include_optimizer)
    else:
        from graphkeras.saving import native
        native.save_model(model, filepath, include_optimizer=include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, options=None):
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    if os.path.isfile(filepath) and _looks_like_hdf5(filepath):
        from graphkeras.saving import hdf5
        return hdf5.load_model(filepath, custom_objects=custom_objects, compile=compile)
    from graphkeras.saving import native
    return native.load_model(filepath, custom_objects=custom_objects, compile=compile)


def save_weights(model, filepath, overwrite=True, save_format=None):
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        if not _ask_to_overwrite(filepath):
            return
    from graphkeras.saving import hdf5
    hdf5.save_weights(model, filepath)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    from graphkeras.saving import hdf5
    return hdf5.load_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)


def load_graph(filepath, graph="predict"):
    """``(onnx.ModelProto, {input name: array})``: graph ``graph`` (``"predict"``,
    ``"train_step"``, ``"test_step"``) of a native save and the saved values of its
    state inputs (weights, optimizer slots...). See :mod:`graphkeras.saving.graphs`."""
    from graphkeras.saving import graphs
    return graphs.load_graph(os.fspath(filepath), graph)


def load_predict_onnx(filepath):
    """The predict graph of a native save with its weights embedded: an
    ``onnx.ModelProto`` any ONNX runtime runs on the data alone."""
    from graphkeras.saving import graphs
    return graphs.load_predict_onnx(os.fspath(filepath))


def _looks_like_hdf5(filepath) -> bool:
    with open(filepath, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _ask_to_overwrite(filepath) -> bool:
    """tf.keras' prompt when ``overwrite=False``; without a terminal, refuse."""
    import sys
    if not sys.stdin or not sys.stdin.isatty():
        raise FileExistsError(f"{filepath} exists and overwrite=False; pass overwrite=True to "
                              "replace it.")
    answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n]").strip().lower()
    while answer not in ("y", "n"):
        answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    return answer == "y"
