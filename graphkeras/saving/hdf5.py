"""tf.keras 2.x's HDF5 format, both ways.

A full-model file holds, as tf.keras writes it:

* root attributes ``backend``, ``keras_version`` (strings), ``model_config`` (the model's
  JSON, layers in tf.keras' legacy entry form) and, for a compiled model saved with its
  optimizer, ``training_config`` (JSON, see :mod:`.training_config`);
* group ``model_weights``: attributes ``backend``, ``keras_version``, ``layer_names``;
  one group per layer of ``model.layers`` with attribute ``weight_names`` and one
  dataset per weight at its name (``dense/kernel:0``), plus ``top_level_model_weights``;
* group ``optimizer_weights``: attribute ``weight_names`` and one dataset per optimizer
  variable (``iteration:0``, ``Adam/m/dense/kernel:0`` ...).

A weights-only file (``save_weights``) is the ``model_weights`` group at the root.
String-list attributes longer than HDF5's 64 KiB header limit are split into
``name0``, ``name1`` ... as tf.keras splits them.

Loading builds the model from the JSON (classes by registered name or
``custom_objects``, never code from the file), checks every layer's weight count and
shapes before anything is assigned, then compiles from ``training_config`` and restores
the optimizer state, so ``fit`` continues where the saved run stopped.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os

import numpy as np

from graphkeras.saving.atomic import WRITEBACK_MIN_BYTES, atomic_path, start_writeback
from graphkeras.saving.rebuild import read_into, weights_from_file
from graphkeras.saving.training_config import (compile_from_training_config, optimizer_state,
                                               restore_optimizer_state, training_config)

logger = logging.getLogger(__name__)

HDF5_OBJECT_HEADER_LIMIT = 64512
BACKEND = "tensorflow"
H5_OVERHEAD = 2**20  # bytes a file may hold besides its arrays (headers, attributes)

# what h5py, json and the model builders raise on a damaged file, besides ValueError and
# OSError; load_model and load_weights turn these into a ValueError that says so
_CORRUPT = (KeyError, TypeError, IndexError, AttributeError, RecursionError, EOFError,
            UnicodeDecodeError, NotImplementedError, RuntimeError, OverflowError)


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise ImportError("Saving and loading .h5 files needs h5py: `pip install h5py`.") from None
    return h5py


def _keras_version():
    from graphkeras.models.serialization import KERAS_VERSION
    return KERAS_VERSION


# ---------------------------------------------------------------- model config
def _check_graph_model(model):
    from graphkeras.engine.functional import Functional
    if isinstance(model, Functional) or getattr(model, "_replay", None) is not None:
        return
    raise ValueError(
        "Saving the model to HDF5 format requires the model to be a Functional model or a "
        f"Sequential model. {type(model).__name__} is a subclassed model: it is defined by the "
        "body of a Python method, which the .h5 format (tf.keras' layout) cannot hold. Save it "
        "in graphkeras' native format instead, `model.save('my_model.keras')`, which keeps the "
        "traced graph so it reloads even without its Python class; or save only its weights "
        "with `model.save_weights('my_weights.h5')`.")


def h5_model_config(model) -> dict:
    """The ``model_config`` tf.keras writes: ``{"class_name", "config"}`` with the
    layers as legacy entries (no ``module``/``registered_name``/``build_config``)."""
    from graphkeras.models.serialization import model_to_dict
    full = model_to_dict(model)
    return {"class_name": full["class_name"], "config": _legacy_layers(full["config"])}


def _legacy_layers(config):
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return config
    config = dict(config)
    layers = []
    for entry in config["layers"]:
        if isinstance(entry, dict) and "class_name" in entry:
            entry = dict(entry)
            registered = entry.pop("registered_name", None)
            entry.pop("module", None)
            entry.pop("build_config", None)
            if registered:
                entry["class_name"] = registered
            entry["config"] = _legacy_layers(entry.get("config"))
        layers.append(entry)
    config["layers"] = layers
    return config


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "as_list"):
        return obj.as_list()
    if isinstance(obj, type):
        return obj.__name__
    raise TypeError(f"Not JSON serializable: {obj!r}")


def _dumps(value) -> bytes:
    return json.dumps(value, default=_json_default).encode("utf8")


# ---------------------------------------------------------------- attributes
def save_attributes(group, name, data):
    """A list of strings as attribute ``name``, split into ``name0``, ``name1`` ... when
    it would not fit in an HDF5 object header (as tf.keras splits it)."""
    data = [d.encode("utf8") if isinstance(d, str) else d for d in data]
    too_long = [d for d in data if len(d) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise RuntimeError("The following attributes cannot be saved to HDF5 file because they "
                           f"are larger than {HDF5_OBJECT_HEADER_LIMIT} bytes: {too_long[:3]}")
    data_npy = np.asarray(data)
    n_chunks = 1
    chunks = np.array_split(data_npy, n_chunks)
    while any(c.nbytes > HDF5_OBJECT_HEADER_LIMIT for c in chunks):
        n_chunks += 1
        chunks = np.array_split(data_npy, n_chunks)
    if n_chunks > 1:
        for i, chunk in enumerate(chunks):
            group.attrs[f"{name}{i}"] = chunk
    else:
        group.attrs[name] = data if data else np.asarray([], dtype=np.float64)


def _read_attr(group, name):
    """Attribute ``name`` of ``group``, refused unread when its declared size is more
    than the whole file (a damaged or hostile header must not make us allocate)."""
    aid = group.attrs.get_id(name)
    declared = math.prod(aid.shape or ()) * max(aid.dtype.itemsize, 1)
    if declared > group.file.id.get_filesize() + H5_OVERHEAD:
        raise ValueError(f"Attribute {name!r} of {group.name!r} declares {declared} bytes, more "
                         "than the file holds; the file is corrupt.")
    return group.attrs[name]


def load_attributes(group, name) -> list[str]:
    """The string list ``save_attributes`` wrote (whole or in chunks)."""
    if name in group.attrs:
        raw = [_read_attr(group, name)]
    else:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.append(_read_attr(group, f"{name}{i}"))
            i += 1
    out = []
    for chunk in raw:
        values = [chunk] if np.ndim(chunk) == 0 else list(chunk)
        for v in values:
            if isinstance(v, (bytes, np.bytes_)):
                out.append(bytes(v).decode("utf8"))
            elif isinstance(v, str):
                out.append(v)
            else:
                raise ValueError(f"Attribute {name!r} of {group.name!r} should hold strings; "
                                 f"found {type(v).__name__}.")
    return out


def _attr_str(value, what) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf8")
    if isinstance(value, str):
        return value
    raise ValueError(f"The {what} attribute of the file should be a JSON string; found "
                     f"{type(value).__name__}.")


# ---------------------------------------------------------------- weights: writing
def _legacy_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _own_weights(model):
    return list(model._trainable_weights) + list(model._non_trainable_weights)


def _create(group, name, value):
    """Dataset ``name`` holding ``value``, written straight from its buffer; after a
    large one the disk is asked to start writing (the save's final fsync then has
    little left to wait for)."""
    group.create_dataset(name, data=value)
    if value.nbytes >= WRITEBACK_MIN_BYTES:
        try:
            fd = group.file.id.get_vfd_handle()
        except (ValueError, TypeError, RuntimeError):  # a driver without a descriptor
            return
        start_writeback(fd if isinstance(fd, int) else None)


def _write_weight_group(group, weights):
    save_attributes(group, "weight_names", [w.name for w in weights])
    for w in weights:
        _create(group, w.name, np.asarray(w.numpy()))


def save_weights_to_group(group, model):
    """``model``'s weights into ``group`` in tf.keras' layout."""
    layers = model.layers
    save_attributes(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = _keras_version().encode("utf8")
    for layer in layers:
        _write_weight_group(group.create_group(layer.name), _legacy_weights(layer))
    _write_weight_group(group.create_group("top_level_model_weights"), _own_weights(model))


def _write_optimizer_group(group, named_arrays):
    save_attributes(group, "weight_names", [n for n, _ in named_arrays])
    for name, value in named_arrays:
        _create(group, name, np.asarray(value))


def save_model(model, filepath, include_optimizer=True):
    """``model`` (Functional or Sequential) as a tf.keras .h5 file at ``filepath``."""
    h5py = _h5py()
    _check_graph_model(model)
    model_config = _dumps(h5_model_config(model))
    config = training_config(model) if include_optimizer else None
    opt_state = optimizer_state(model) if config is not None else None
    if config is not None and isinstance(model.optimizer, (list, tuple)):
        opt_state = None  # tf.keras has no layout for several optimizers
    with atomic_path(filepath) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = BACKEND
            f.attrs["keras_version"] = _keras_version()
            f.attrs["model_config"] = model_config
            if config is not None:
                f.attrs["training_config"] = _dumps(config)
            save_weights_to_group(f.create_group("model_weights"), model)
            if opt_state is not None:
                _write_optimizer_group(f.create_group("optimizer_weights"), opt_state)


def save_weights(model, filepath):
    """``model``'s weights as a tf.keras .h5 weights file."""
    h5py = _h5py()
    with atomic_path(filepath) as tmp:
        with h5py.File(tmp, "w") as f:
            save_weights_to_group(f, model)


# ---------------------------------------------------------------- weights: reading
def _open(filepath):
    h5py = _h5py()
    try:
        return h5py.File(filepath, "r")
    except OSError as err:
        raise OSError(f"Unable to open {filepath} as an HDF5 file: {err}") from None


def _member(group, path):
    """``group[path]`` following hard links only (tf.keras writes nothing else): no
    external link may open another file, no soft link send the lookup elsewhere.
    None when there is no such member."""
    h5py = _h5py()
    node = group
    for part in path.split("/"):
        if not part:
            continue
        if not isinstance(node, h5py.Group):
            return None
        links, name = node.id.links, part.encode("utf8")  # (low level: one lookup each)
        if not links.exists(name):
            return None
        kind = links.get_info(name).type
        if kind != h5py.h5l.TYPE_HARD:
            raise ValueError(f"{path!r} in {group.name!r} is a "
                             f"{_LINK_KINDS.get(kind, 'user-defined link')}; weight files hold "
                             "plain groups and datasets only.")
        oid = h5py.h5o.open(node.id, name)  # (h5py's node[part] costs a few more lookups)
        if isinstance(oid, h5py.h5g.GroupID):
            node = h5py.Group(oid)
        elif isinstance(oid, h5py.h5d.DatasetID):  # (read-only: h5py caches its shape)
            intent = h5py.h5i.get_file_id(oid).get_intent()
            node = h5py.Dataset(oid, readonly=intent == h5py.h5f.ACC_RDONLY)
        else:  # a committed datatype: neither a group nor a dataset, refused by the callers
            node = oid
    return node


_LINK_KINDS = {1: "SoftLink", 64: "ExternalLink"}  # h5py.h5l.TYPE_SOFT, TYPE_EXTERNAL


def _datasets(group, names, where):
    h5py = _h5py()
    out = []
    for name in names:
        ds = _member(group, name)
        if ds is None:
            raise ValueError(f"The file is missing the weight {name!r} listed for {where}.")
        if not isinstance(ds, h5py.Dataset):
            raise ValueError(f"{name!r} of {where} is not a dataset.")
        if ds.shape is None:
            raise ValueError(f"Weight {name!r} of {where} holds no data (empty dataspace).")
        if ds.dtype.kind not in "fiub" or ds.dtype.fields is not None or \
                ds.dtype.subdtype is not None:
            raise ValueError(f"Weight {name!r} of {where} has non-numeric dtype {ds.dtype}.")
        dcpl = ds.id.get_create_plist()
        if dcpl.get_external_count() or dcpl.get_layout() == h5py.h5d.VIRTUAL:
            raise ValueError(f"Weight {name!r} of {where} keeps its data outside the file "
                             "(external or virtual storage); refusing to read it.")
        out.append(ds)
    return out


def _group(f, name):
    h5py = _h5py()
    group = _member(f, name)
    if group is None:
        raise ValueError(f"The file lists layer {name!r} but has no group for it.")
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{name!r} in the file is not a group.")
    return group


def _read(ds):
    return np.asarray(ds[()])


def _assign_all(plan, fresh=False):
    """Set every variable of ``plan`` (``[(variable, dataset)]``, shapes checked). A
    user's model gets all values read before any is set; a model just rebuilt from the
    file (``fresh``) gets each dataset read straight into its variable."""
    if fresh:
        for var, ds in plan:
            read_into(var, ds)
        return
    values = [(var, _read(ds)) for var, ds in plan]
    for var, value in values:
        var.assign(value.astype(var.dtype, copy=False) if value.dtype != np.dtype(var.dtype)
                   else value)


def _top_level_plan(f, model, skip_mismatch=False):
    if "top_level_model_weights" not in f:
        return []
    group = _group(f, "top_level_model_weights")
    names = load_attributes(group, "weight_names")
    symbolic = _own_weights(model)
    if len(names) != len(symbolic):
        msg = ("Weight count mismatch for top-level weights when loading weights from file. "
               f"Model expects {len(symbolic)} top-level weight(s). Received {len(names)} saved "
               "top-level weight(s)")
        if skip_mismatch:
            logger.warning("Skipping loading top-level weights for model due to mismatch in "
                           f"number of weights. Model expects {len(symbolic)} top-level "
                           f"weight(s). Received {len(names)} saved top-level weight(s)")
            return []
        raise ValueError(msg)
    datasets = _datasets(group, names, "the top-level weights")
    plan = []
    for var, ds in zip(symbolic, datasets):
        if tuple(var.shape) != tuple(ds.shape):
            if skip_mismatch:
                logger.warning("Skipping loading top-level weight for model due to mismatch in "
                               f"shape for weight {var.name}. Weight expects shape "
                               f"{tuple(var.shape)}. Received saved weight with shape "
                               f"{tuple(ds.shape)}")
                continue
            raise ValueError(f"Shape mismatch in model for top-level weight {var.name}. Weight "
                             f"expects shape {tuple(var.shape)}. Received saved weight with "
                             f"shape {tuple(ds.shape)}")
        plan.append((var, ds))
    return plan


def load_weights_from_group(f, model, fresh=False):
    """tf.keras' topological loading: the i-th layer with weights in the file goes to the
    i-th layer with weights in ``model``. Everything is checked before anything is set."""
    layer_names = load_attributes(f, "layer_names")
    filtered_layers = [layer for layer in model.layers if _legacy_weights(layer)]
    saved = []
    for name in layer_names:
        group = _group(f, name)
        weight_names = load_attributes(group, "weight_names")
        if weight_names:
            saved.append((name, group, weight_names))
    if len(saved) != len(filtered_layers):
        raise ValueError("Layer count mismatch when loading weights from file. Model expected "
                         f"{len(filtered_layers)} layers, found {len(saved)} saved layers.")
    plan = []
    for k, ((name, group, weight_names), layer) in enumerate(zip(saved, filtered_layers)):
        symbolic = _legacy_weights(layer)
        if len(weight_names) != len(symbolic):
            raise ValueError(f"Weight count mismatch for layer #{k} (named {layer.name} in the "
                             f"current model, {name} in the save file). Layer expects "
                             f"{len(symbolic)} weight(s). Received {len(weight_names)} saved "
                             "weight(s)")
        datasets = _datasets(group, weight_names, f"layer {name!r}")
        for var, ds in zip(symbolic, datasets):
            if tuple(var.shape) != tuple(ds.shape):
                raise ValueError(
                    f"Cannot assign value to variable '{var.name}': Shape mismatch. The variable "
                    f"shape {tuple(var.shape)}, and the assigned value shape {tuple(ds.shape)} "
                    f"are incompatible (layer #{k}, named {layer.name} in the current model, "
                    f"{name} in the save file).")
        plan += list(zip(symbolic, datasets))
    plan += _top_level_plan(f, model)
    _assign_all(plan, fresh)


def load_weights_from_group_by_name(f, model, skip_mismatch=False):
    """tf.keras' ``by_name=True`` loading: weights go to the layers of the same name;
    with ``skip_mismatch`` layers whose weights do not fit are skipped with a warning."""
    layer_names = load_attributes(f, "layer_names")
    index = {}
    for layer in model.layers:
        if layer.name:
            index.setdefault(layer.name, []).append(layer)
    plan = []
    for k, name in enumerate(layer_names):
        if name not in index:
            continue
        group = _group(f, name)
        weight_names = load_attributes(group, "weight_names")
        for layer in index[name]:
            symbolic = _legacy_weights(layer)
            if len(weight_names) != len(symbolic):
                if skip_mismatch:
                    logger.warning(f"Skipping loading of weights for layer #{k} (named "
                                   f"{layer.name}) due to mismatch in number of weights. Layer "
                                   f"expects {len(symbolic)} weight(s). Received "
                                   f"{len(weight_names)} saved weight(s)")
                    continue
                raise ValueError(f"Weight count mismatch for layer #{k} (named {layer.name}). "
                                 f"Layer expects {len(symbolic)} weight(s). Received "
                                 f"{len(weight_names)} saved weight(s)")
            datasets = _datasets(group, weight_names, f"layer {name!r}")
            for var, ds in zip(symbolic, datasets):
                if tuple(var.shape) != tuple(ds.shape):
                    detail = (f"for weight {var.name}. Weight expects shape {tuple(var.shape)}. "
                              f"Received saved weight with shape {tuple(ds.shape)}")
                    if skip_mismatch:
                        logger.warning(f"Skipping loading weights for layer #{k} (named "
                                       f"{layer.name}) due to mismatch in shape {detail}")
                        continue
                    raise ValueError(f"Shape mismatch in layer #{k} (named {layer.name}) "
                                     f"{detail}")
                plan.append((var, ds))
    plan += _top_level_plan(f, model, skip_mismatch)
    _assign_all(plan)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Weights from a tf.keras .h5 file (weights-only or full model) into ``model``."""
    if skip_mismatch and not by_name:
        raise ValueError("When calling model.load_weights, skip_mismatch can only be set to True "
                         "when by_name is True.")
    if not model.built and not model.weights:
        raise ValueError("Unable to load weights saved in HDF5 format into a subclassed Model "
                         "which has not created its variables yet. Call the Model first, then "
                         "load the weights.")
    with _open(filepath) as f, _clear_errors(filepath):
        group = f
        if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
            group = _group(f, "model_weights")
        if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
            raise ValueError(f"{filepath} holds no Keras weights: the HDF5 file has no "
                             "'layer_names' attribute.")
        if by_name:
            load_weights_from_group_by_name(group, model, skip_mismatch=skip_mismatch)
        else:
            load_weights_from_group(group, model)


@contextlib.contextmanager
def _clear_errors(filepath):
    """What a damaged file makes h5py, json or the builders raise, as a ValueError."""
    try:
        yield
    except UnicodeError as err:  # a ValueError, but one that does not say what is wrong
        raise ValueError(f"Cannot load {filepath}: it holds text that is not valid UTF-8 "
                         f"({err}).") from err
    except ValueError:
        raise
    except OSError as err:  # the HDF5 library's read errors do not say which file
        if str(filepath) in str(err):
            raise
        raise OSError(f"Cannot load {filepath}: the HDF5 file is damaged ({err}).") from err
    except _CORRUPT as err:
        raise ValueError(f"Cannot load {filepath}: the file is corrupt or is not a Keras HDF5 "
                         f"file ({type(err).__name__}: {err}).") from err


# ---------------------------------------------------------------- model: reading
def _optimizer_datasets(group):
    """``[(name, dataset)]``; read only once their shapes were checked."""
    names = load_attributes(group, "weight_names")
    return list(zip(names, _datasets(group, names, "the optimizer")))


def _json_attr(f, name, filepath):
    raw = _read_attr(f, name)
    try:
        return json.loads(_attr_str(raw, name))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"The {name} of {filepath} is not valid JSON ({type(err).__name__}: "
                         f"{err}).") from None


def load_model(filepath, custom_objects=None, compile=True):
    """A model from a tf.keras .h5 file (written by tf.keras 2.x or by graphkeras)."""
    with _open(filepath) as f, _clear_errors(filepath):
        return _load_model(f, filepath, custom_objects, compile)


def _load_model(f, filepath, custom_objects, compile):
    from graphkeras import serialization
    from graphkeras.engine.training import Model
    from graphkeras.models.serialization import model_from_config
    if "model_config" not in f.attrs:
        raise ValueError(f"No model config found in the file at {filepath}.")
    config = _json_attr(f, "model_config", filepath)
    if "model_weights" not in f:
        raise ValueError(f"{filepath} has a model config but no 'model_weights' group.")
    weights = _group(f, "model_weights")
    # every weight is read from the file: layers skip their initializers, and may not
    # declare more bytes of weights than the file has
    budget = os.path.getsize(filepath) + H5_OVERHEAD
    with serialization.custom_object_scope(custom_objects or {}), \
            weights_from_file(budget, filepath):
        model = model_from_config(config, custom_objects=custom_objects)
        if not isinstance(model, Model):
            raise ValueError(f"The model_config of {filepath} describes a "
                             f"{type(model).__name__} layer, not a model.")
        load_weights_from_group(weights, model, fresh=True)  # inside: see weights_from_file
    if not compile:
        return model
    if "training_config" not in f.attrs:
        logger.warning("No training configuration found in the save file, so the model was "
                       "*not* compiled. Compile it manually.")
        return model
    train_config = _json_attr(f, "training_config", filepath)
    compile_from_training_config(model, train_config, custom_objects)
    if "optimizer_weights" in f:
        try:
            restore_optimizer_state(model, _optimizer_datasets(_group(f, "optimizer_weights")))
        except ValueError as err:
            logger.warning("Error in loading the saved optimizer state. As a result, your "
                           f"model is starting with a freshly initialized optimizer. ({err})")
    return model
