"""The state members of a native save — ``weights.h5``, ``rng.h5``, ``optimizer.h5``,
``metrics.h5`` — written from and read back into a model.

Each member holds one dataset per array, named after the array's name (``/`` makes
groups; a name that cannot be a path of its own becomes ``__item__/<i>``); the root
attributes ``names`` and ``keys`` (fixed-length UTF-8 strings) list the names and
the dataset paths in order. ``rng.h5`` holds a scalar counter per random generator
with its seed as attribute ``seed``. Reading checks every link, dtype, storage and
shape before anything is assigned to the model.
"""
from __future__ import annotations

import logging

import numpy as np

from graphkeras.saving import checked
from graphkeras.saving.container import METRICS, RNG
from graphkeras.saving.rebuild import read_into

logger = logging.getLogger("graphkeras.saving.native")

H5_OVERHEAD = 2**20              # bytes an HDF5 file may hold besides the arrays
_DIRECT_MIN_BYTES = 2**16        # arrays read into a buffer of their own (read_verified)


# ------------------------------------------------------------------ gathering
def seed_generators(model) -> list:
    """The random generators of the model and its layers, in a stable order."""
    from graphkeras.layers.core import SeedGenerator
    out, seen = [], set()
    for layer in [model] + model._flatten_sublayers():
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator) and id(value) not in seen:
                seen.add(id(value))
                out.append(value)
    return out


def metric_arrays(model) -> list:
    out = []
    for metric in model.metrics:
        for var in metric.weights:
            out.append((f"{metric.name}/{var.path}", np.asarray(var.numpy())))
    return out


def optimizer_arrays(model) -> list | None:
    from graphkeras.saving.training_config import optimizer_state
    optimizer = model.optimizer
    optimizers = optimizer if isinstance(optimizer, (list, tuple)) else [optimizer]
    if optimizer is None or not all(getattr(o, "_built", True) for o in optimizers):
        return None  # no slots yet: a fresh optimizer at load time is the same state
    state = optimizer_state(model)
    if not state:
        return None
    items = state.items() if isinstance(state, dict) else state
    return [(str(name), np.asarray(value)) for name, value in items]


# ------------------------------------------------------------------ writing
def write_named(f, put, pairs):
    """Datasets named after ``pairs``' names (``/`` makes groups; a name that cannot
    be a path of its own becomes ``__item__/<i>``); the root attributes ``names`` and
    ``keys`` keep their order and the dataset paths. ``put`` creates each dataset
    (:meth:`.container.Writer.h5`)."""
    keys = written_keys(pairs)
    for key, (_, array) in zip(keys, pairs):
        put(f, key, array)
    write_index(f, [name for name, _ in pairs], keys)


def write_index(f, names, keys):
    def strings(items):  # fixed-length UTF-8: no heap pointers that damage could send astray
        return np.array([i.encode("utf-8") for i in items]) if items else np.zeros(0, "S1")
    f.attrs["names"] = strings(names)
    f.attrs["keys"] = strings(keys)


def write_rng(f, put, generators):
    names, keys = [], []
    for i, gen in enumerate(generators):
        key = f"generator_{i}"
        ds = put(f, key, np.asarray(gen.state.numpy(), np.int64))
        ds.attrs["seed"] = np.int64(gen.seed)
        names.append(gen.state.name)
        keys.append(key)
    write_index(f, names, keys)


def written_keys(pairs):
    """The dataset paths :func:`write_named` gives ``pairs``: each name, unless it cannot
    be an HDF5 path of its own (empty parts, or it clashes with an earlier dataset or
    group), then ``__item__/<i>``."""
    keys, datasets, groups = [], set(), set()
    for i, (name, _) in enumerate(pairs):
        parts = name.split("/") if name else [""]
        prefixes = {"/".join(parts[:j]) for j in range(1, len(parts))}
        key = name
        if any(p in ("", ".", "..") for p in parts) or name in datasets or name in groups or \
                prefixes & datasets:
            key = f"__item__/{i}"
            while key in datasets:
                key += "_"
            prefixes = {"__item__"}
        keys.append(key)
        datasets.add(key)
        groups |= prefixes
    return keys


# ------------------------------------------------------------------ reading
def _attr_strings(f, name, where, member):
    import h5py
    bname = name.encode("utf-8")
    if not h5py.h5a.exists(f.id, bname):
        raise ValueError(f"{where}: {member} lacks its {name!r} attribute.")
    aid = h5py.h5a.open(f.id, bname)  # (low level: h5py's attrs[] costs several lookups)
    dtype, shape = aid.dtype, aid.shape
    # graphkeras writes fixed-length strings only, as one list
    if dtype.kind != "S" or shape is None or len(shape) != 1:
        raise ValueError(f"{where}: {member} attribute {name!r} is not a list of names.")
    size = getattr(f, "_gk_size", None)
    if size is not None and shape[0] * dtype.itemsize > size + H5_OVERHEAD:
        raise ValueError(f"{where}: {member} attribute {name!r} declares more bytes than the "
                         "member holds; refusing it.")
    value = np.empty(shape, dtype)
    if value.size:
        aid.read(value)
    return [v.decode("utf-8") for v in value.tolist()]


def named_datasets(f, where, member):
    """``(names, datasets)`` listed by ``f``'s ``names`` and ``keys`` attributes; every
    part of every key a hard link (to a group, then to the dataset), every dataset of
    a plain numeric type, stored in the file."""
    import h5py
    names = _attr_strings(f, "names", where, member)
    keys = _attr_strings(f, "keys", where, member)
    if len(names) != len(keys):
        raise ValueError(f"{where}: {member} has {len(names)} names but {len(keys)} keys.")
    links, hard, checked_paths = f.id.links, h5py.h5l.TYPE_HARD, set()
    datasets = []
    for key in keys:  # (low level: h5py's high-level lookups cost several calls per part)
        parts = key.split("/")
        if not all(parts) or "." in parts:
            raise ValueError(f"{where}: {member} has no dataset {key!r} (or it is a link).")
        for j in range(1, len(parts) + 1):
            path = "/".join(parts[:j])
            if path in checked_paths:
                continue
            try:  # the link itself; its parent, already checked, is a hard link to a group
                kind = links.get_info(path.encode("utf-8")).type
            except (KeyError, RuntimeError, ValueError):  # no such link, or a dataset's child
                kind = None
            if kind != hard:
                raise ValueError(f"{where}: {member} has no dataset {key!r} (or it is a link).")
            checked_paths.add(path)
        oid = h5py.h5o.open(f.id, key.encode("utf-8"))
        if not isinstance(oid, h5py.h5d.DatasetID):
            raise ValueError(f"{where}: {member} entry {key!r} is not a dataset.")
        node = h5py.Dataset(oid, readonly=True)  # (members are opened read-only)
        dtype = node.dtype
        dcpl = oid.get_create_plist()
        if dtype.kind not in "fiub" or dtype.fields is not None or \
                dtype.subdtype is not None or node.shape is None or \
                dcpl.get_external_count() or dcpl.get_layout() == h5py.h5d.VIRTUAL:
            raise ValueError(f"{where}: {member} dataset {key!r} has an unsupported type or "
                             f"storage ({dtype}).")
        datasets.append(node)
    return names, datasets


def check_sizes(f, datasets, where, member):
    total = sum(int(np.prod(d.shape, dtype=np.float64)) * d.dtype.itemsize for d in datasets)
    if total > f._gk_size + H5_OVERHEAD:
        raise ValueError(f"{where}: {member} declares {total} bytes of arrays but is only "
                         f"{f._gk_size} bytes long; refusing it.")


def read_array(ds, expected_shape, member, where, dtype=None):
    if expected_shape is not None and tuple(ds.shape) != tuple(expected_shape):
        raise ValueError(f"{where}: {member} dataset {ds.name!r} has shape {tuple(ds.shape)}, "
                         f"but the model expects {tuple(expected_shape)}.")
    if ds.dtype.isnative and len(ds.shape) and \
            int(np.prod(ds.shape, dtype=np.float64)) * ds.dtype.itemsize >= _DIRECT_MIN_BYTES:
        value = np.empty(ds.shape, ds.dtype)  # (its size was bounded by check_sizes)
        checked.read_verified(ds, value)
    else:
        value = np.asarray(ds[()])
        checked.verify_array(ds, value)
    if dtype is not None and value.dtype != np.dtype(dtype):
        if np.dtype(dtype).kind == "f" and value.dtype.kind not in "fiub":
            raise ValueError(f"{where}: {member} dataset {ds.name!r} has dtype {value.dtype}; "
                             f"expected {dtype}.")
        value = value.astype(dtype)
    return value


def assign(variables, names, datasets, member, where, model_name):
    variables = list(variables)
    if len(variables) != len(datasets):
        raise ValueError(f"{where}: {member} holds {len(datasets)} weights, but model "
                         f"{model_name!r} built from the config has {len(variables)}.")
    for var, name, ds in zip(variables, names, datasets):
        if tuple(ds.shape) != tuple(var.shape):
            raise ValueError(f"{where}: weight {name!r} has shape {tuple(ds.shape)} in {member}, "
                             f"but the model built from the config expects {tuple(var.shape)} "
                             f"for {var.name!r}.")
    for var, ds in zip(variables, datasets):  # a model just built: read into its variables
        read_into(var, ds, checked.verify_array, checked.read_verified)


def restore_rng(model, f, where):
    names, datasets = named_datasets(f, where, RNG)
    generators = seed_generators(model)
    if len(generators) != len(datasets):
        logger.warning("%s saved %d random generators but the model has %d; their state is not "
                       "restored.", where, len(datasets), len(generators))
        return
    for gen, ds in zip(generators, datasets):
        if ds.shape != () or ds.dtype.kind not in "iu":
            raise ValueError(f"{where}: {RNG} dataset {ds.name!r} is not an integer counter.")
        seed = ds.attrs.get("seed")
        if seed is None or np.asarray(seed).shape != () or np.asarray(seed).dtype.kind not in "iu":
            raise ValueError(f"{where}: {RNG} dataset {ds.name!r} has no integer seed.")
        gen.seed = int(seed)
        gen.state.assign(np.int64(ds[()]))


def restore_metrics(model, f, where):
    names, datasets = named_datasets(f, where, METRICS)
    check_sizes(f, datasets, where, METRICS)
    saved = dict(zip(names, datasets))
    missing = []
    for metric in model.metrics:
        for var in metric.weights:
            ds = saved.get(f"{metric.name}/{var.path}")
            if ds is None:
                missing.append(f"{metric.name}/{var.path}")
                continue
            var.assign(read_array(ds, var.shape, METRICS, where, var.dtype))
    if missing and saved:
        logger.warning("%s: no saved state for metric variables %s.", where, missing)


def read_rng(model, f, where):
    """``[(generator, seed, counter)]`` from ``rng.h5``, checked against ``model``."""
    names, datasets = named_datasets(f, where, RNG)
    generators = seed_generators(model)
    if len(generators) != len(datasets):
        raise ValueError(f"{where}: {RNG} holds {len(datasets)} random generators but the model "
                         f"has {len(generators)}.")
    out = []
    for gen, ds in zip(generators, datasets):
        seed = ds.attrs.get("seed")
        if ds.shape != () or ds.dtype.kind not in "iu" or seed is None or \
                np.asarray(seed).shape != () or np.asarray(seed).dtype.kind not in "iu":
            raise ValueError(f"{where}: {RNG} dataset {ds.name!r} is not an integer counter with "
                             "an integer seed.")
        out.append((gen, int(seed), np.int64(ds[()])))
    return out


def assign_metric_state(model, metric_state) -> bool:
    """Set ``model``'s metric accumulators from :func:`restore_state`'s ``metric_state``.
    False (nothing assigned) when the model's metrics do not match it yet (not
    created, or other names or shapes)."""
    pairs = []
    for metric in model.metrics:
        for var in metric.weights:
            value = metric_state.get(f"{metric.name}/{var.path}")
            if value is None or np.shape(value) != tuple(var.shape):
                return False
            pairs.append((var, value))
    if len(pairs) != len(metric_state):
        return False
    for var, value in pairs:
        var.assign(np.asarray(value).astype(var.dtype, copy=False))
    return True
