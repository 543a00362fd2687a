"""graphkeras' own model format: ``model.save("m.keras")`` (one zip file) or
``model.save("some_dir")`` (a folder with the same members).

JSON members are deflated, HDF5 and ONNX members stored. Members (names inside
the zip, or files in the folder):

* ``metadata.json``: ``{"format": "graphkeras", "format_version", "graphkeras_version",
  "keras_version", "date_saved", "members", "crc32", "arrays"}``; ``crc32`` maps every
  other member to its CRC-32, checked before the member is parsed (a damaged folder
  member is refused before it reaches the HDF5 library; in a zip, zipfile checks it
  too). ``arrays`` records the large HDF5 members (4 MiB and more) so that they are
  checked without a pass over all their bytes: the CRC-32 of everything but their
  arrays' raw data, checked before they are parsed, and a checksum per array, checked
  as it is read — they are opened in place, not copied (:mod:`.checked`).
* ``config.json``: the model's ``to_json()`` content. Functional and Sequential models
  use tf.keras' schema; a subclassed model stores its traced IR (``class_name``
  ``"TracedModel"``, see :mod:`graphkeras.models.traced`) plus ``original_class``:
  the class name, module, registered name and (when the class overrides
  ``get_config``) its config, and how the model takes its inputs. At load time a
  class found through ``custom_objects``, the registry
  (``register_keras_serializable``) or an already imported module gives the model
  back as that class; otherwise it comes back as a ``TracedModel`` that predicts
  and trains from the IR alone.
* ``weights.h5``: every weight of ``model.weights``, one dataset per weight named
  by the weight's name (``dense/kernel:0``); the root attributes ``names`` and
  ``keys`` list the weight names and their dataset paths in ``model.weights`` order.
* ``rng.h5``: the state of each layer's random generator (Dropout...): a dataset
  per generator holding its counter, with its seed as attribute ``seed``.
* ``optimizer.h5`` (unless ``include_optimizer=False``): the optimizer's variables
  (slots, ``iteration``), same ``names``/``keys`` layout.
* ``metrics.h5``: metric accumulators, named ``<metric name>/<variable>``.
* ``training_config.json``: the ``compile`` arguments.
* ``training_state.json`` (only in saves made during ``fit`` by ``ModelCheckpoint``,
  and in ``BackupAndRestore``'s backups): where the fit stood — epoch, batch, the
  state of the generator behind shuffling (now and at the epoch's start), the
  learning rate — so that a fit resumes exactly (:func:`restore_state`).
* ``graphs/predict.onnx`` (weights embedded), ``graphs/train_step.onnx`` and
  ``graphs/test_step.onnx`` (when the model has compiled them; the train step only
  with the optimizer) and ``graphs/manifest.json`` naming every input, output and
  state tensor of each graph: shape (``null`` for a dynamic dimension), dtype,
  role (``data``, ``target``, ``sample_weight``, ``weight``, ``optimizer``,
  ``metric``, ``counter``, ``rng``; outputs also ``output`` and ``log``), where a state
  tensor's current value is stored (``source``: member and dataset) and, for each
  ``<name>/new`` output, the input it feeds (``feeds``).

A *state file* (:func:`save_state`, ``BackupAndRestore``'s backup) holds only the
members that carry state — ``metadata.json``, ``weights.h5``, ``rng.h5``,
``optimizer.h5``, ``metrics.h5``, ``training_state.json`` — not the config or the
graphs; :func:`restore_state` puts it (or a full model file's state) back into an
existing model.

Loading never runs code from the file: JSON and HDF5 only (no pickle, no eval,
no marshal); ONNX graphs are not executed on load — the model is rebuilt from its
config and its steps are traced again. Members are size-checked before they are
read; corrupt or hostile files raise ``ValueError`` (or ``OSError``).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import io
import json
import logging
import os
import struct
import sys
import zipfile
import zlib

import numpy as np

from graphkeras.saving import checked
from graphkeras.saving.atomic import atomic_path
from graphkeras.saving.rebuild import read_into, traced_weight_bytes, weights_from_file

logger = logging.getLogger(__name__)

FORMAT = "graphkeras"
FORMAT_VERSION = 1
KERAS_VERSION = "2.15.0"

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "weights.h5"
RNG = "rng.h5"
OPTIMIZER = "optimizer.h5"
METRICS = "metrics.h5"
TRAINING_CONFIG = "training_config.json"
TRAINING_STATE = "training_state.json"
MANIFEST = "graphs/manifest.json"
GRAPH_FILES = {"predict": "graphs/predict.onnx", "train_step": "graphs/train_step.onnx",
               "test_step": "graphs/test_step.onnx"}
MEMBERS = (METADATA, CONFIG, WEIGHTS, RNG, OPTIMIZER, METRICS, TRAINING_CONFIG, TRAINING_STATE,
           MANIFEST, *GRAPH_FILES.values())

MAX_JSON_BYTES = 256 * 2**20     # a JSON member larger than this is refused
MAX_DEFLATE_RATIO = 1100         # deflate cannot expand data more than ~1032x
H5_OVERHEAD = 2**20              # bytes an HDF5 file may hold besides the arrays


# ======================================================================== saving
def save_model(model, filepath, include_optimizer=True):
    """Write ``model`` to ``filepath``: a zip file for ``.keras`` (or an existing
    file), otherwise a folder. The write is atomic: a temporary file or folder
    next to the target, renamed over it once complete."""
    filepath = os.fspath(filepath)
    as_zip = filepath.endswith(".keras") or os.path.isfile(filepath)
    if not as_zip and os.path.isdir(filepath):
        _check_replaceable_dir(filepath)
    members = _Members(model, include_optimizer, training_state=_save_training_state.get())
    if as_zip:
        with atomic_path(filepath) as tmp:
            with zipfile.ZipFile(tmp, "w") as zf:
                members.write(_ZipWriter(zf))
    else:
        with atomic_path(filepath, directory=True) as tmp:
            members.write(_DirWriter(tmp))


_save_training_state = contextvars.ContextVar("graphkeras_training_state", default=None)


@contextlib.contextmanager
def training_state_for_saves(state):
    """Within the block, native saves (``model.save("m.keras")``) also store ``state``
    (a JSON-able dict: where a running ``fit`` stands) as ``training_state.json``.
    ``ModelCheckpoint`` saves this way, so its files resume a fit exactly."""
    token = _save_training_state.set(state)
    try:
        yield
    finally:
        _save_training_state.reset(token)


def save_state(model, filepath, training_state):
    """A state file at ``filepath`` (one zip, written atomically): ``model``'s weights,
    random generators, optimizer and metric state and ``training_state`` (a JSON-able
    dict), without the config or the graphs. :func:`restore_state` reads it back into
    the same model."""
    members = _Members(model, True, training_state=training_state, state_only=True)
    with atomic_path(os.fspath(filepath)) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            members.write(_ZipWriter(zf))


def _check_replaceable_dir(path):
    """Saving to a folder replaces it whole; refuse a folder that holds anything
    but a graphkeras model, so ``model.save(".")`` cannot wipe a project."""
    entries = set(os.listdir(path))
    known = {m.split("/")[0] for m in MEMBERS}
    if entries and (METADATA not in entries or entries - known):
        raise ValueError(f"Cannot save the model to {path!r}: the folder exists and holds files "
                         "that are not part of a graphkeras model (saving replaces the whole "
                         "folder). Choose a new or empty folder, or a `.keras` / `.h5` file name.")


class _Writer:
    """Writes members and keeps their CRC-32 (recorded in ``metadata.json``, checked
    before a member is parsed, so a damaged file never reaches the HDF5 library)."""

    def __init__(self):
        self.crc32 = {}
        self.arrays = {}  # large HDF5 members: see graphkeras.saving.checked

    def bytes(self, name, data, compress=False):
        self.crc32[name] = self._put(name, data, compress)

    def json(self, name, obj):
        self.bytes(name, _dumps(obj), compress=True)

    def h5(self, name, fill):
        import h5py
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            fill(f)
            f.flush()
            extents = checked.array_extents(f)
        data = buffer.getbuffer()
        if len(data) >= checked.MIN_BYTES:
            self.arrays[name] = checked.record(data, extents)
        self.bytes(name, data)


class _ZipWriter(_Writer):
    def __init__(self, zf):
        super().__init__()
        self.zf = zf

    def _put(self, name, data, compress):
        info = zipfile.ZipInfo(name, date_time=datetime.datetime.now().timetuple()[:6])
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.zf.writestr(info, data)
        return self.zf.getinfo(name).CRC  # computed by zipfile as it wrote


class _DirWriter(_Writer):
    def __init__(self, root):
        super().__init__()
        self.root = root

    def _put(self, name, data, compress):
        path = os.path.join(self.root, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return zlib.crc32(data)


def _dumps(obj) -> bytes:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
    return json.dumps(obj, indent=1, default=default).encode("utf-8")


class _Members:
    """Everything a save writes, gathered from the model up front."""

    def __init__(self, model, include_optimizer, training_state=None, state_only=False):
        from graphkeras.models.serialization import model_to_dict
        self.model = model
        self.config = None if state_only else _model_config(model, model_to_dict)
        self.training_state = training_state
        self.weights = [(w.name, np.asarray(w.numpy())) for w in model.weights]
        self.generators = _seed_generators(model)
        self.training_config = None
        self.optimizer = None
        self.metrics = _metric_arrays(model)
        if getattr(model, "_is_compiled", False):
            from graphkeras.saving.training_config import training_config
            if not state_only:
                self.training_config = training_config(model)
            if include_optimizer:
                self.optimizer = _optimizer_arrays(model)
        self.include_optimizer = include_optimizer
        self.graphs, self.manifest = ({}, None) if state_only else _graphs(self, model)

    def write(self, w):
        if self.config is not None:
            w.json(CONFIG, self.config)
        w.h5(WEIGHTS, lambda f: _write_named(f, self.weights))
        w.h5(RNG, lambda f: _write_rng(f, self.generators))
        w.h5(METRICS, lambda f: _write_named(f, self.metrics))
        if self.training_config is not None:
            w.json(TRAINING_CONFIG, self.training_config)
        if self.optimizer is not None:
            w.h5(OPTIMIZER, lambda f: _write_named(f, self.optimizer))
        for kind, proto in self.graphs.items():
            w.bytes(GRAPH_FILES[kind], proto.SerializeToString())
        if self.graphs:
            w.json(MANIFEST, self.manifest)
        if self.training_state is not None:
            w.json(TRAINING_STATE, self.training_state)
        from graphkeras import __version__
        w.json(METADATA, {"format": FORMAT, "format_version": FORMAT_VERSION,
                          "graphkeras_version": __version__, "keras_version": KERAS_VERSION,
                          "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                          "members": [METADATA] + list(w.crc32), "crc32": dict(w.crc32),
                          "arrays": dict(w.arrays)})


def _model_config(model, model_to_dict) -> dict:
    from graphkeras.models.traced import TracedModel
    config = model_to_dict(model)
    if config.get("class_name") != "TracedModel":
        return config
    if isinstance(model, TracedModel):  # loaded without its class: keep what was saved
        info = dict(getattr(model, "_original_class_info", None) or
                    {"class_name": model._original_class or "TracedModel", "module": None,
                     "registered_name": None, "config": None})
        info.setdefault("input_structure", _input_structure(model))
    else:
        info = _class_info(model)
        info["input_structure"] = _input_structure(model)
    config["config"]["original_class"] = info["class_name"]
    config["original_class"] = info
    return config


def _class_info(model) -> dict:
    from graphkeras.engine.training import Model
    cls = type(model)
    info = {"class_name": cls.__name__, "module": cls.__module__, "qualname": cls.__qualname__,
            "registered_name": cls.__dict__.get("_registered_name"), "config": None}
    if cls.get_config is not Model.get_config:
        try:
            config = model.get_config()
            json.dumps(config)
            info["config"] = config
        except (TypeError, ValueError, NotImplementedError) as err:
            logger.warning("The config of %s (%s) is not JSON-serializable; the model will be "
                           "rebuilt by calling %s() at load time.", model.name, err, cls.__name__)
    return info


def _input_structure(model) -> str:
    saved = getattr(model, "_saved_structure", None)
    if isinstance(saved, dict):
        return "dict"
    if isinstance(saved, (list, tuple)):
        return "list"
    return "single"


def _write_named(f, pairs):
    """Datasets named after ``pairs``' names (``/`` makes groups; a name that cannot
    be a path of its own becomes ``__item__/<i>``); the root attributes ``names`` and
    ``keys`` keep their order and the dataset paths."""
    keys = _written_keys(pairs)
    for key, (_, array) in zip(keys, pairs):
        f.create_dataset(key, data=array)
    _write_index(f, [name for name, _ in pairs], keys)


def _write_index(f, names, keys):
    def strings(items):  # fixed-length UTF-8: no heap pointers that damage could send astray
        return np.array([i.encode("utf-8") for i in items]) if items else np.zeros(0, "S1")
    f.attrs["names"] = strings(names)
    f.attrs["keys"] = strings(keys)


def _write_rng(f, generators):
    names, keys = [], []
    for i, gen in enumerate(generators):
        key = f"generator_{i}"
        ds = f.create_dataset(key, data=np.asarray(gen.state.numpy(), np.int64))
        ds.attrs["seed"] = np.int64(gen.seed)
        names.append(gen.state.name)
        keys.append(key)
    _write_index(f, names, keys)


def _seed_generators(model) -> list:
    """The random generators of the model and its layers, in a stable order."""
    from graphkeras.layers.core import SeedGenerator
    out, seen = [], set()
    for layer in [model] + model._flatten_sublayers():
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator) and id(value) not in seen:
                seen.add(id(value))
                out.append(value)
    return out


def _metric_arrays(model) -> list:
    out = []
    for metric in model.metrics:
        for var in metric.weights:
            out.append((f"{metric.name}/{var.path}", np.asarray(var.numpy())))
    return out


def _optimizer_arrays(model) -> list | None:
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


# ------------------------------------------------------------------ graphs
def _graphs(members, model):
    """``{kind: onnx ModelProto}`` and the manifest describing them."""
    from graphkeras import export
    graphs, manifest = {}, {"format": "graphkeras-graphs", "version": 1, "graphs": {}}
    if model._input_specs() is None:
        return graphs, manifest
    sources = _state_sources(members, model)
    try:
        proto = export.predict_onnx(model)
    except Exception as err:  # noqa: BLE001 - the graphs are artefacts; the model is saved
        logger.warning("The predict graph could not be exported to ONNX (%s: %s); it is left out "
                       "of the saved model.", type(err).__name__, err)
        proto = None
    compiled = model._predict_graph
    if proto is not None:
        graphs["predict"] = proto
        manifest["graphs"]["predict"] = {
            "file": GRAPH_FILES["predict"], "weights": "embedded",
            "inputs": [_tensor(n, v, "data") for n, v in
                       zip(compiled.data_names, compiled.graph.inputs)],
            "outputs": [_tensor(o.name, v, "output") for o, v in
                        zip(proto.graph.output, compiled.graph.outputs)]}
    kinds = [("train", "train_step")] if members.include_optimizer else []
    for kind, label in kinds + [("test", "test_step")]:
        key, step = _pick_step(model, kind)
        if step is None:
            continue
        try:
            graphs[label] = step.onnx_model()
        except Exception as err:  # noqa: BLE001 - the graphs are artefacts; the model is saved
            logger.warning("The %s graph could not be exported to ONNX (%s: %s); it is left out "
                           "of the saved model.", label, type(err).__name__, err)
            continue
        manifest["graphs"][label] = _step_manifest(step, key, label, model, sources)
    return graphs, manifest


def _pick_step(model, kind):
    steps = [(key, s) for key, s in getattr(model, "_steps", {}).items() if key[0] == kind]
    single = [(key, s) for key, s in steps if s.repeat == 1]
    return (single or steps or [(None, None)])[-1]


def _tensor(name, ir_value, role, /, **extra):
    return {"name": name, "shape": list(ir_value.shape), "dtype": ir_value.dtype, "role": role,
            **extra}


def _state_sources(members, model) -> dict:
    """``id(variable) -> (role, {"member", "key"})`` for every variable whose value
    the saved files hold."""
    out = {}

    def add(variables, role, member, pairs_keys):
        for var, key in zip(variables, pairs_keys):
            out.setdefault(id(var), (role, {"member": member, "key": key}))

    keys = _written_keys(members.weights)
    add(model.weights, "weight", WEIGHTS, keys)
    add([g.state for g in members.generators], "rng", RNG,
        [f"generator_{i}" for i in range(len(members.generators))])
    metric_vars = [v for m in model.metrics for v in m.weights]
    add(metric_vars, "metric", METRICS, _written_keys(members.metrics))
    by_name = {}
    for name, key in zip([n for n, _ in members.optimizer or []],
                         _written_keys(members.optimizer or [])):
        by_name.setdefault(name, key)
    optimizer = model.optimizer
    several = isinstance(optimizer, (list, tuple))
    for i, opt in enumerate(optimizer if several else [optimizer]):
        if opt is None:
            continue
        prefix = f"{i}/" if several else ""  # optimizer_state's names with one per sub-model
        for var in opt.variables:
            key = by_name.get(prefix + var.name)
            role = "counter" if var is opt.iterations else "optimizer"
            out.setdefault(id(var), (role, {"member": OPTIMIZER, "key": key} if key else None))
        for attr in ("_learning_rate", "_current_learning_rate"):
            var = getattr(opt, attr, None)
            if var is not None and hasattr(var, "numpy"):
                out.setdefault(id(var), ("optimizer", None))
    return out


def _written_keys(pairs):
    """The dataset paths ``_write_named`` gives ``pairs``: each name, unless it cannot
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


def _step_manifest(step, key, label, model, sources) -> dict:
    graph = step.graph
    spec = getattr(step, "spec", None)
    n_x = len(spec.x) if spec is not None else len(model._input_specs())
    n_y = len(spec.y) if spec is not None else sum(
        1 for v in graph.inputs[n_x:step.n_data] if not v.name.startswith("sample_weight"))
    # the dtypes the data came in with (the compiled-step cache key), before casting
    host = [d for _, d in key[1]] if len(key[1]) == step.n_data - n_x else [None] * step.n_data
    inputs = []
    for i, (name, value) in enumerate(zip(step.data_names, graph.inputs)):
        role = "data" if i < n_x else ("target" if i < n_x + n_y else "sample_weight")
        extra = {"host_dtype": host[i - n_x]} if i >= n_x and host[i - n_x] else {}
        inputs.append(_tensor(name, value, role, **extra))
    role_of = {}
    for name, var, value in zip(step.state_names, step.read, graph.inputs[step.n_data:]):
        role, source = sources.get(id(var), ("state", None))
        role_of[id(var)] = (role, name)
        extra = {"variable": var.name, "source": source}
        if source is None and int(np.prod(var.shape, dtype=np.int64)) <= 16:
            extra["value"] = np.asarray(var.numpy()).tolist()
        inputs.append(_tensor(name, value, role, **extra))
    outputs, feedback = [], {}
    n_logs = len(step.log_names)
    for i, (name, value) in enumerate(zip(step.output_names, graph.outputs)):
        if i < n_logs:
            outputs.append(_tensor(name, value, "log"))
            continue
        var = step.written[i - n_logs]
        role, feeds = role_of.get(id(var), (sources.get(id(var), ("state", None))[0], None))
        outputs.append(_tensor(name, value, role, variable=var.name, feeds=feeds))
        if feeds is not None:
            feedback[name] = feeds
    y_structure = spec.y_structure if spec is not None else None
    return {"file": GRAPH_FILES[label], "steps_per_execution": step.repeat,
            "y_structure": _structure_json(y_structure), "inputs": inputs, "outputs": outputs,
            "feedback": feedback}


def _structure_json(structure):
    if isinstance(structure, dict):
        return {"dict": list(structure)}
    if isinstance(structure, (list, tuple)):
        return {"list": len(structure)}
    return None


# ======================================================================== loading
def load_model(filepath, custom_objects=None, compile=True):
    """The model saved at ``filepath`` (a ``.keras`` zip or a folder)."""
    from graphkeras import backend
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    generator = backend.rng()
    rng_state = generator.bit_generator.state  # loading leaves the user's random stream alone
    try:
        with _open_archive(filepath) as archive:
            return _load(archive, custom_objects, compile)
    except UnicodeError as err:  # a ValueError, but one that does not say what is wrong
        raise ValueError(f"Cannot load {filepath!r}: it holds text that is not valid UTF-8 "
                         f"({err}).") from err
    except ValueError:
        raise
    except OSError as err:  # the HDF5 library's read errors do not say which file
        if filepath in str(err):
            raise
        raise OSError(f"Cannot load {filepath!r}: a member is damaged ({err}).") from err
    except (KeyError, TypeError, IndexError, AttributeError, RecursionError, EOFError,
            NotImplementedError, RuntimeError, zipfile.BadZipFile, zlib.error,
            OverflowError) as err:
        raise ValueError(f"Cannot load {filepath!r}: the file is corrupt or not a graphkeras "
                         f"model ({type(err).__name__}: {err}).") from err
    finally:
        generator.bit_generator.state = rng_state


@contextlib.contextmanager
def _open_archive(filepath):
    if os.path.isdir(filepath):
        yield _DirArchive(filepath)
        return
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"Cannot load {filepath!r}: it is neither a graphkeras `.keras` zip "
                         "file, a saved-model folder, nor an HDF5 file.")
    with zipfile.ZipFile(filepath, "r") as zf:
        yield _ZipArchive(zf, os.path.getsize(filepath), filepath)


class _Archive:
    """Reads members: size-checked, and (once ``metadata.json`` is read) checked
    against the CRC-32 it records."""

    crc32 = None
    arrays = None

    def read(self, name, limit=None, required=True):
        data = self._raw(name, limit)
        if data is None:
            if required:
                raise ValueError(f"{self.where}: there is no {name!r}; this is not a complete "
                                 "graphkeras model.")
            return None
        if self.crc32 is not None and name != METADATA:
            expected = self.crc32.get(name)
            if not isinstance(expected, int) or self._crc(name, data) != expected:
                raise ValueError(f"{self.where}: {name!r} is damaged (its checksum does not "
                                 "match the one recorded in metadata.json).")
        return data

    def json(self, name, required=True):
        data = self.read(name, MAX_JSON_BYTES, required)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"{self.where}: {name!r} is not valid JSON ({err}).") from None

    @contextlib.contextmanager
    def h5(self, name, required=True):
        rec = (self.arrays or {}).get(name) if self.crc32 is not None else None
        window = self._window(name) if rec is not None else None
        if window is not None:  # a large member: opened in place, see graphkeras.saving.checked
            with window:
                size = window.seek(0, io.SEEK_END)
                sums = checked.check_rest(window, rec, size, self.where, name)
                f = self._open_h5(window, name)
                with f, checked.registered(f, sums, self.where, name):
                    f._gk_size = size
                    yield f
            return
        data = self.read(name, None, required)
        if data is None:
            yield None
            return
        f = self._open_h5(io.BytesIO(data), name)
        with f:
            f._gk_size = len(data)
            yield f

    def _open_h5(self, fileobj, name):
        import h5py
        try:
            return h5py.File(fileobj, "r")
        except (OSError, RuntimeError) as err:
            raise ValueError(f"{self.where}: {name!r} is not a valid HDF5 file ({err}).") from None


class _ZipArchive(_Archive):
    def _crc(self, name, data):
        return self.zf.getinfo(name).CRC  # zipfile checked the data against it while reading

    def _window(self, name):
        """The member's bytes in place in the zip file, if it is stored plainly."""
        if name not in self.names:
            return None
        info = self.zf.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or \
                info.compress_size != info.file_size:
            return None  # read (and checked) whole instead
        raw = open(self.where, "rb")
        try:
            raw.seek(info.header_offset)
            header = raw.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise ValueError(f"{self.where}: member {name!r} has no valid local header; the "
                                 "file is corrupt.")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            if start + info.file_size > self.size:
                raise ValueError(f"{self.where}: member {name!r} is truncated or corrupt.")
        except BaseException:
            raw.close()
            raise
        return checked.Window(raw, start, info.file_size)

    def __init__(self, zf, archive_size, where):
        self.zf = zf
        self.size = archive_size
        self.where = where
        self.names = set(zf.namelist())
        if "model.weights.h5" in self.names and WEIGHTS not in self.names:
            raise ValueError(f"{where} is a Keras 3 / tf.keras `.keras` file, not a graphkeras "
                             "one; save it from tf.keras as `.h5` to load it here.")

    def _raw(self, name, limit):
        if name not in self.names:
            return None
        info = self.zf.getinfo(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{self.where}: member {name!r} uses an unsupported compression "
                             f"method ({info.compress_type}).")
        if info.flag_bits & 0x1:
            raise ValueError(f"{self.where}: member {name!r} is encrypted.")
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else MAX_DEFLATE_RATIO
        if info.compress_size > self.size or info.file_size > max(info.compress_size, 1) * ratio \
                or (limit is not None and info.file_size > limit):
            raise ValueError(f"{self.where}: member {name!r} declares a size of "
                             f"{info.file_size} bytes, which the file cannot hold; refusing it.")
        with self.zf.open(info) as f:  # zipfile checks the member's CRC at its end
            data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise ValueError(f"{self.where}: member {name!r} is truncated or corrupt.")
        return data


class _DirArchive(_Archive):
    @staticmethod
    def _crc(name, data):
        return zlib.crc32(data)

    def __init__(self, root):
        self.root = root
        self.where = root

    def _window(self, name):
        path = os.path.join(self.root, *name.split("/"))
        if not os.path.isfile(path):
            return None
        raw = open(path, "rb")
        return checked.Window(raw, 0, os.fstat(raw.fileno()).st_size)

    def _raw(self, name, limit):
        path = os.path.join(self.root, *name.split("/"))
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if limit is not None and size > limit:
                raise ValueError(f"{self.where}: {name!r} is {size} bytes, more than allowed "
                                 f"({limit}).")
            return f.read()


def _read_metadata(archive):
    metadata = archive.json(METADATA)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{archive.where}: {METADATA} does not describe a graphkeras model.")
    if not isinstance(metadata.get("crc32"), dict):
        raise ValueError(f"{archive.where}: {METADATA} lacks the members' checksums.")
    archive.crc32 = metadata["crc32"]
    archive.arrays = metadata.get("arrays") if isinstance(metadata.get("arrays"), dict) else {}
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{archive.where}: invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(f"{archive.where} was written by a newer graphkeras (format version "
                         f"{version}; this one reads up to {FORMAT_VERSION}). Upgrade graphkeras.")


def _load(archive, custom_objects, compile):
    _read_metadata(archive)
    config = archive.json(CONFIG)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or \
            not isinstance(config.get("config"), dict):
        raise ValueError(f"{archive.where}: {CONFIG} is not a model config (a dict with "
                         "'class_name' and 'config').")
    with archive.h5(WEIGHTS) as weights_file:
        names, datasets = _named_datasets(weights_file, archive.where, WEIGHTS)
        model = _model_from_config(config, custom_objects, weights_file, datasets, archive.where)
        _assign(model.weights, names, datasets, WEIGHTS, archive.where, model.name)
    with archive.h5(RNG, required=False) as rng_file:
        if rng_file is not None:
            _restore_rng(model, rng_file, archive.where)
    training_config = archive.json(TRAINING_CONFIG, required=False) if compile else None
    if training_config is None:
        return model
    from graphkeras.saving.training_config import (compile_from_training_config,
                                                   restore_optimizer_state)
    compile_from_training_config(model, training_config, custom_objects)
    manifest = archive.json(MANIFEST, required=False)
    _prebuild_steps(model, manifest)
    with archive.h5(OPTIMIZER, required=False) as opt_file:
        if opt_file is not None:
            names, datasets = _named_datasets(opt_file, archive.where, OPTIMIZER)
            _check_sizes(opt_file, datasets, archive.where, OPTIMIZER)
            arrays = [(n, _read_array(d, None, OPTIMIZER, archive.where)) for n, d in
                      zip(names, datasets)]
            restore_optimizer_state(model, arrays)
    with archive.h5(METRICS, required=False) as metrics_file:
        if metrics_file is not None:
            _restore_metrics(model, metrics_file, archive.where)
    return model


def restore_state(model, filepath):
    """Put the state saved at ``filepath`` — a state file (:func:`save_state`) or a
    native model file — back into ``model``, the model it was saved from (or one built
    the same way): weights, random generators' seeds and counters, and, when present
    and ``model`` is compiled, the optimizer's variables. Returns
    ``(training_state, metric_state)``: the ``training_state.json`` dict (None without
    one) and ``{"<metric>/<variable>": array}`` of the saved metric accumulators, for
    :func:`assign_metric_state` once the model's metrics exist (they are created with
    its train step). Nothing is assigned when the file does not fit the model
    (``ValueError``)."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    try:
        with _open_archive(filepath) as archive:
            return _restore(archive, model)
    except (ValueError, OSError):
        raise
    except (KeyError, TypeError, IndexError, AttributeError, RecursionError, EOFError,
            UnicodeDecodeError, NotImplementedError, RuntimeError, zipfile.BadZipFile,
            zlib.error, OverflowError) as err:
        raise ValueError(f"Cannot restore {filepath!r}: the file is corrupt or not a graphkeras "
                         f"state ({type(err).__name__}: {err}).") from err


def _restore(archive, model):
    _read_metadata(archive)
    training_state = archive.json(TRAINING_STATE, required=False)
    if training_state is not None and not isinstance(training_state, dict):
        raise ValueError(f"{archive.where}: {TRAINING_STATE} is not a JSON object.")
    with archive.h5(WEIGHTS) as f:
        names, datasets = _named_datasets(f, archive.where, WEIGHTS)
        _check_sizes(f, datasets, archive.where, WEIGHTS)
        weights = list(model.weights)
        if len(weights) != len(datasets):
            raise ValueError(f"{archive.where}: {WEIGHTS} holds {len(datasets)} weights, but "
                             f"model {model.name!r} has {len(weights)}.")
        values = [_read_array(d, v.shape, WEIGHTS, archive.where, v.dtype)
                  for v, d in zip(weights, datasets)]
    optimizer = None
    if getattr(model, "optimizer", None) is not None:
        with archive.h5(OPTIMIZER, required=False) as f:
            if f is not None:
                names, datasets = _named_datasets(f, archive.where, OPTIMIZER)
                _check_sizes(f, datasets, archive.where, OPTIMIZER)
                optimizer = [(n, _read_array(d, None, OPTIMIZER, archive.where))
                             for n, d in zip(names, datasets)]
    metric_state = {}
    with archive.h5(METRICS, required=False) as f:
        if f is not None:
            names, datasets = _named_datasets(f, archive.where, METRICS)
            _check_sizes(f, datasets, archive.where, METRICS)
            metric_state = {n: _read_array(d, None, METRICS, archive.where)
                            for n, d in zip(names, datasets)}
    with archive.h5(RNG, required=False) as f:  # checked before anything is assigned
        rng = _read_rng(model, f, archive.where) if f is not None else []
    if optimizer is not None:
        from graphkeras.saving.training_config import restore_optimizer_state
        restore_optimizer_state(model, optimizer)  # checks every shape before it assigns
    for var, value in zip(weights, values):
        var.assign(value)
    for gen, seed, counter in rng:
        gen.seed = seed
        gen.state.assign(counter)
    return training_state, metric_state


def _read_rng(model, f, where):
    """``[(generator, seed, counter)]`` from ``rng.h5``, checked against ``model``."""
    names, datasets = _named_datasets(f, where, RNG)
    generators = _seed_generators(model)
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


# ------------------------------------------------------------------ model
def _model_from_config(config, custom_objects, weights_file, datasets, where):
    from graphkeras.engine.training import Model
    from graphkeras.models.serialization import model_from_config
    # every weight comes from the file: layers skip their initializers, and may not
    # declare more bytes of weights than the file holds
    budget = weights_file._gk_size + H5_OVERHEAD
    if config["class_name"] != "TracedModel":
        _check_sizes(weights_file, datasets, where, WEIGHTS)
        with weights_from_file(budget, where):
            model = model_from_config(config, custom_objects)
        if not isinstance(model, Model):
            raise ValueError(f"{where}: {CONFIG} describes a {type(model).__name__} layer, not "
                             "a model.")
        return model
    inner = config["config"]
    specs = inner.get("weights")
    if not isinstance(specs, list) or not isinstance(inner.get("inputs"), list) or \
            not isinstance(inner.get("graph"), dict):
        raise ValueError(f"{where}: {CONFIG} holds an invalid traced model config.")
    declared = traced_weight_bytes(specs, f"{where}: {CONFIG}")
    if declared > weights_file._gk_size + H5_OVERHEAD:
        raise ValueError(f"{where}: {CONFIG} declares {declared} bytes of weights, more than "
                         f"{WEIGHTS} holds ({weights_file._gk_size} bytes).")
    if len(specs) != len(datasets):
        raise ValueError(f"{where}: {CONFIG} declares {len(specs)} weights, but {WEIGHTS} "
                         f"holds {len(datasets)}.")
    for spec, ds in zip(specs, datasets):
        if tuple(ds.shape) != tuple(spec["shape"]):
            raise ValueError(f"{where}: weight {spec.get('name')!r} has shape {tuple(ds.shape)} in "
                             f"{WEIGHTS} but {tuple(spec['shape'])} in {CONFIG}.")
    info = config.get("original_class") if isinstance(config.get("original_class"), dict) else {}
    cls = _resolve_class(info, custom_objects)
    if cls is not None:
        with weights_from_file(budget, where):
            model = _instantiate(cls, info, inner, where)
        if model is not None:
            return model
    from graphkeras.models.traced import TracedModel
    model = TracedModel.from_config(inner)
    model._original_class_info = {k: info.get(k) for k in ("class_name", "module", "qualname",
                                                            "registered_name", "config",
                                                            "input_structure")}
    if not model._original_class_info.get("class_name"):
        model._original_class_info["class_name"] = inner.get("original_class") or "TracedModel"
    return model


def _resolve_class(info, custom_objects):
    """The saved model's class, if it can be had without importing anything: from
    ``custom_objects``, the registry, or a module that is already imported."""
    from graphkeras import serialization
    from graphkeras.engine.training import Model
    from graphkeras.models.traced import TracedModel

    def usable(obj):
        return isinstance(obj, type) and issubclass(obj, Model) and not issubclass(obj, TracedModel)

    class_name = info.get("class_name")
    for name in (info.get("registered_name"), class_name):
        if isinstance(name, str) and name:
            obj = serialization.lookup("model", name, custom_objects)
            if usable(obj):
                return obj
    module, qualname = info.get("module"), info.get("qualname") or class_name
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        obj = sys.modules.get(module)
        for part in qualname.split("."):
            obj = getattr(obj, part, None) if obj is not None else None
        if usable(obj) and obj.__name__ == class_name:
            return obj
    return None


def _instantiate(cls, info, inner, where):
    """An instance of the saved model's own class, built for the saved inputs; None
    (with a warning) when that fails or its weights do not fit the saved ones."""
    config = info.get("config")
    try:
        if isinstance(config, dict):
            model = cls.from_config(config)
        else:
            model = cls()
            model.name = inner.get("name") or model.name
        _build_for_inputs(model, inner["inputs"], info.get("input_structure"))
    except Exception as err:  # noqa: BLE001 - any failure of user code: fall back to the IR
        logger.warning("Could not rebuild %s as class %s (%s: %s); loading it as a TracedModel "
                       "from its saved graph instead.", where, cls.__name__, type(err).__name__,
                       err)
        return None
    shapes = [tuple(w.shape) for w in model.weights]
    saved = [tuple(s["shape"]) for s in inner["weights"]]
    if shapes != saved:
        logger.warning("Class %s now has weights of shapes %s, but %s saved %s; loading it as a "
                       "TracedModel from its saved graph instead.", cls.__name__, shapes, where,
                       saved)
        return None
    return model


def _build_for_inputs(model, inputs, structure):
    from graphkeras.compiler.primitive import Trace
    from graphkeras.engine.base_layer import Layer, training_scope
    specs = [(s["name"], tuple(s["shape"]), s["dtype"]) for s in inputs]
    trace = Trace(f"{model.name}_build")
    with trace, training_scope(False):
        xs = [trace.input(shape, dtype, name) for name, shape, dtype in specs]
        if structure == "dict":
            arg = dict(zip([s[0] for s in specs], xs))
        elif structure == "list" or len(xs) > 1:
            arg = list(xs)
        else:
            arg = xs[0]
        model._record_spec(arg)
        model._saved_spec = specs
        Layer.__call__(model, arg)
    model.built = True


# ------------------------------------------------------------------ arrays
def _attr_strings(f, name, where, member):
    if name not in f.attrs:
        raise ValueError(f"{where}: {member} lacks its {name!r} attribute.")
    if f.attrs.get_id(name).dtype.kind != "S":  # graphkeras writes fixed-length strings only
        raise ValueError(f"{where}: {member} attribute {name!r} is not a list of names.")
    value = np.asarray(f.attrs[name])
    if value.ndim != 1:
        raise ValueError(f"{where}: {member} attribute {name!r} is not a list of names.")
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.tolist()]


def _named_datasets(f, where, member):
    import h5py
    names = _attr_strings(f, "names", where, member)
    keys = _attr_strings(f, "keys", where, member)
    if len(names) != len(keys):
        raise ValueError(f"{where}: {member} has {len(names)} names but {len(keys)} keys.")
    datasets = []
    for key in keys:
        node = f
        for part in key.split("/"):
            link = node.get(part, getlink=True) if isinstance(node, h5py.Group) and part else None
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f"{where}: {member} has no dataset {key!r} (or it is a link).")
            node = node[part]
        if not isinstance(node, h5py.Dataset):
            raise ValueError(f"{where}: {member} entry {key!r} is not a dataset.")
        if node.dtype.kind not in "fiub" or node.dtype.fields is not None or \
                node.dtype.subdtype is not None or node.shape is None or \
                node.external or node.is_virtual:
            raise ValueError(f"{where}: {member} dataset {key!r} has an unsupported type or "
                             f"storage ({node.dtype}).")
        datasets.append(node)
    return names, datasets


def _check_sizes(f, datasets, where, member):
    total = sum(int(np.prod(d.shape, dtype=np.float64)) * d.dtype.itemsize for d in datasets)
    if total > f._gk_size + H5_OVERHEAD:
        raise ValueError(f"{where}: {member} declares {total} bytes of arrays but is only "
                         f"{f._gk_size} bytes long; refusing it.")


def _read_array(ds, expected_shape, member, where, dtype=None):
    if expected_shape is not None and tuple(ds.shape) != tuple(expected_shape):
        raise ValueError(f"{where}: {member} dataset {ds.name!r} has shape {tuple(ds.shape)}, "
                         f"but the model expects {tuple(expected_shape)}.")
    value = np.asarray(ds[()])
    checked.verify_array(ds, value)
    if dtype is not None and value.dtype != np.dtype(dtype):
        if np.dtype(dtype).kind == "f" and value.dtype.kind not in "fiub":
            raise ValueError(f"{where}: {member} dataset {ds.name!r} has dtype {value.dtype}; "
                             f"expected {dtype}.")
        value = value.astype(dtype)
    return value


def _assign(variables, names, datasets, member, where, model_name):
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
        read_into(var, ds, checked.verify_array)


def _restore_rng(model, f, where):
    names, datasets = _named_datasets(f, where, RNG)
    generators = _seed_generators(model)
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


def _restore_metrics(model, f, where):
    names, datasets = _named_datasets(f, where, METRICS)
    _check_sizes(f, datasets, where, METRICS)
    saved = dict(zip(names, datasets))
    missing = []
    for metric in model.metrics:
        for var in metric.weights:
            ds = saved.get(f"{metric.name}/{var.path}")
            if ds is None:
                missing.append(f"{metric.name}/{var.path}")
                continue
            var.assign(_read_array(ds, var.shape, METRICS, where, var.dtype))
    if missing and saved:
        logger.warning("%s: no saved state for metric variables %s.", where, missing)


def _prebuild_steps(model, manifest):
    """Trace the train/test steps the saved model had compiled (same data shapes),
    so that its metric and optimizer variables exist and take the saved state."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("graphs"), dict):
        return
    for label, kind in (("train_step", "train"), ("test_step", "test")):
        entry = manifest["graphs"].get(label)
        if not isinstance(entry, dict):
            continue
        try:
            batch, structure, repeat = _placeholder_batch(model, entry)
            model._step_for(kind, batch, structure, repeat)
        except Exception as err:  # noqa: BLE001 - the step is traced at the first fit instead
            logger.warning("Could not rebuild the saved %s (%s: %s); it is compiled at the first "
                           "call instead and saved metric state may not be restored.", label,
                           type(err).__name__, err)


def _placeholder_batch(model, entry):
    """Batch-of-one zeros with the shapes and dtypes of a saved step's data inputs."""
    groups = {"data": [], "target": [], "sample_weight": []}
    for t in entry["inputs"]:
        if t["role"] in groups:
            shape = tuple(1 if d is None else int(d) for d in t["shape"])
            if int(np.prod(shape, dtype=np.float64)) > 2**26:
                raise ValueError(f"placeholder for {t['name']!r} would be too large")
            groups[t["role"]].append(np.zeros(shape, t.get("host_dtype") or t["dtype"]))
    structure = entry.get("y_structure")
    if isinstance(structure, dict) and "dict" in structure:
        structure = {str(n): None for n in structure["dict"]}
    elif isinstance(structure, dict) and "list" in structure:
        structure = [None] * int(structure["list"])
    else:
        structure = None
    # the step ``fit`` will ask for: compile() after loading sets steps_per_execution anew
    repeat = max(int(getattr(model, "_steps_per_execution", 1) or 1), 1)
    return (groups["data"], groups["target"], groups["sample_weight"]), structure, repeat
