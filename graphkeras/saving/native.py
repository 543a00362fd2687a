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
* ``config.json``: the model's ``to_json()`` content; a subclassed model's traced IR
  and original class (:mod:`.native_config`).
* ``weights.h5``: every weight of ``model.weights``, one dataset per weight named
  by the weight's name (``dense/kernel:0``); the root attributes ``names`` and
  ``keys`` list the weight names and their dataset paths in ``model.weights`` order.
* ``rng.h5``: the state of each layer's random generator (Dropout...): a dataset
  per generator holding its counter, with its seed as attribute ``seed``.
* ``optimizer.h5`` (unless ``include_optimizer=False``): the optimizer's variables
  (slots, ``iteration``), same ``names``/``keys`` layout.
* ``metrics.h5``: metric accumulators, named ``<metric name>/<variable>``
  (:mod:`.state` writes and reads these four).
* ``training_config.json``: the ``compile`` arguments.
* ``training_state.json`` (only in saves made during ``fit`` by ``ModelCheckpoint``,
  and in ``BackupAndRestore``'s backups): where the fit stood — epoch, batch, the
  state of the generator behind shuffling (now and at the epoch's start), the
  learning rate — so that a fit resumes exactly (:func:`restore_state`).
* ``graphs/predict.onnx``, ``graphs/train_step.onnx`` and ``graphs/test_step.onnx``
  (when the model has compiled them; the train step only with the optimizer), with
  their state (weights included) as graph inputs whose values the members above
  hold, and ``graphs/manifest.json`` naming every input, output and state tensor of
  each graph and where its value is stored (:mod:`.graphs`, which also reads a graph
  back with its state: ``graphkeras.saving.load_graph``).

A *state file* (:func:`save_state`, ``BackupAndRestore``'s backup) holds only the
members that carry state — ``metadata.json``, ``weights.h5``, ``rng.h5``,
``optimizer.h5``, ``metrics.h5``, ``training_state.json`` — not the config or the
graphs; :func:`restore_state` puts it (or a full model file's state) back into an
existing model.

Saves are atomic (a temporary file or folder, synced, renamed over the target) and
copy no array: each goes from the variable's buffer to the file (:mod:`.container`).
Loading never runs code from the file: JSON and HDF5 only (no pickle, no eval,
no marshal); ONNX graphs are not executed on load — the model is rebuilt from its
config and its steps are traced again. Members are size-checked before they are
read; corrupt or hostile files raise ``ValueError`` (or ``OSError``).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import os
import zipfile
import zlib

from graphkeras.saving import graphs, state
from graphkeras.saving.atomic import atomic_path
from graphkeras.saving.container import (CONFIG, FORMAT, FORMAT_VERSION, GRAPH_FILES, MANIFEST,
                                         MEMBERS, METADATA, METRICS, OPTIMIZER, RNG,
                                         TRAINING_CONFIG, TRAINING_STATE, WEIGHTS, DirWriter,
                                         ZipWriter, check_replaceable_dir, open_archive,
                                         read_metadata)
from graphkeras.saving.native_config import model_config, rebuild_model
from graphkeras.saving.state import (assign_metric_state, check_sizes, named_datasets,
                                     read_array)

KERAS_VERSION = "2.15.0"
_ZipWriter, _DirWriter = ZipWriter, DirWriter  # the names tests and hooks know

__all__ = ["save_model", "save_state", "training_state_for_saves", "load_model",
           "restore_state", "assign_metric_state", "FORMAT", "FORMAT_VERSION", "CONFIG",
           "METADATA", "WEIGHTS", "RNG", "OPTIMIZER", "METRICS", "TRAINING_CONFIG",
           "TRAINING_STATE", "MANIFEST", "GRAPH_FILES", "MEMBERS"]


# ======================================================================== saving
def save_model(model, filepath, include_optimizer=True):
    """Write ``model`` to ``filepath``: a zip file for ``.keras`` (or an existing
    file), otherwise a folder. The write is atomic: a temporary file or folder
    next to the target, renamed over it once complete."""
    filepath = os.fspath(filepath)
    as_zip = filepath.endswith(".keras") or os.path.isfile(filepath)
    if not as_zip and os.path.isdir(filepath):
        check_replaceable_dir(filepath)
    members = _Members(model, include_optimizer, training_state=_save_training_state.get())
    if as_zip:
        with atomic_path(filepath) as tmp:
            with zipfile.ZipFile(tmp, "w") as zf:
                members.write(ZipWriter(zf))
    else:
        with atomic_path(filepath, directory=True) as tmp:
            members.write(DirWriter(tmp))


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
            members.write(ZipWriter(zf))


class _Members:
    """Everything a save writes, gathered from the model up front (the arrays are the
    variables' own buffers, not copies)."""

    def __init__(self, model, include_optimizer, training_state=None, state_only=False):
        self.model = model
        self.config = None if state_only else model_config(model)
        self.training_state = training_state
        self.weights = [(w.name, w.numpy()) for w in model.weights]
        self.generators = state.seed_generators(model)
        self.training_config = None
        self.optimizer = None
        self.metrics = state.metric_arrays(model)
        if getattr(model, "_is_compiled", False):
            from graphkeras.saving.training_config import training_config
            if not state_only:
                self.training_config = training_config(model)
            if include_optimizer:
                self.optimizer = state.optimizer_arrays(model)
        self.include_optimizer = include_optimizer
        self.graphs, self.manifest = ({}, None) if state_only else graphs.build(self, model)

    def write(self, w):
        if self.config is not None:
            w.json(CONFIG, self.config, indent=None)  # can be large: compact, C encoder
        w.h5(WEIGHTS, lambda f, put: state.write_named(f, put, self.weights))
        if self.generators:
            w.h5(RNG, lambda f, put: state.write_rng(f, put, self.generators))
        else:  # the same bytes, laid out once per process
            w.bytes(RNG, _empty_index())
        if self.metrics:
            w.h5(METRICS, lambda f, put: state.write_named(f, put, self.metrics))
        else:
            w.bytes(METRICS, _empty_index())
        if self.training_config is not None:
            w.json(TRAINING_CONFIG, self.training_config)
        if self.optimizer is not None:
            w.h5(OPTIMIZER, lambda f, put: state.write_named(f, put, self.optimizer))
        for kind, data in self.graphs.items():
            w.bytes(GRAPH_FILES[kind], data)
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


_EMPTY_INDEX = []


def _empty_index():
    """The HDF5 member listing no array (``names`` and ``keys`` empty): what
    :func:`.state.write_named` and :func:`.state.write_rng` write for nothing."""
    if not _EMPTY_INDEX:
        from graphkeras.saving import h5image
        _EMPTY_INDEX.append(h5image.build(lambda f, put: state.write_index(f, [], [])))
    return _EMPTY_INDEX[0]


def _holds_nothing(archive, name) -> bool:
    """Whether member ``name`` is byte for byte :func:`_empty_index` (checked against
    its CRC-32 as it is read): then it lists no array, and need not be parsed."""
    empty = _empty_index()
    if archive.member_size(name) != empty.size:
        return False
    return archive.read(name) == b"".join(empty.pieces())


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
        with open_archive(filepath) as archive:
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


def _load(archive, custom_objects, compile):
    read_metadata(archive)
    config = archive.json(CONFIG)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or \
            not isinstance(config.get("config"), dict):
        raise ValueError(f"{archive.where}: {CONFIG} is not a model config (a dict with "
                         "'class_name' and 'config').")
    with archive.h5(WEIGHTS) as weights_file:
        names, datasets = named_datasets(weights_file, archive.where, WEIGHTS)
        model = rebuild_model(config, custom_objects, weights_file, datasets, archive.where,
                              lambda m: state.assign(m.weights, names, datasets, WEIGHTS,
                                                     archive.where, m.name))
    if state.seed_generators(model) or not _holds_nothing(archive, RNG):
        with archive.h5(RNG, required=False) as rng_file:
            if rng_file is not None:
                state.restore_rng(model, rng_file, archive.where)
    training_config = archive.json(TRAINING_CONFIG, required=False) if compile else None
    if training_config is None:
        return model
    from graphkeras.saving.training_config import (compile_from_training_config,
                                                   restore_optimizer_state)
    compile_from_training_config(model, training_config, custom_objects)
    manifest = archive.json(MANIFEST, required=False)
    graphs.prebuild_steps(model, manifest)
    with archive.h5(OPTIMIZER, required=False) as opt_file:
        if opt_file is not None:
            names, datasets = named_datasets(opt_file, archive.where, OPTIMIZER)
            check_sizes(opt_file, datasets, archive.where, OPTIMIZER)
            arrays = [(n, read_array(d, None, OPTIMIZER, archive.where)) for n, d in
                      zip(names, datasets)]
            restore_optimizer_state(model, arrays)
    with archive.h5(METRICS, required=False) as metrics_file:
        if metrics_file is not None:
            state.restore_metrics(model, metrics_file, archive.where)
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
        with open_archive(filepath) as archive:
            return _restore(archive, model)
    except (ValueError, OSError):
        raise
    except (KeyError, TypeError, IndexError, AttributeError, RecursionError, EOFError,
            UnicodeDecodeError, NotImplementedError, RuntimeError, zipfile.BadZipFile,
            zlib.error, OverflowError) as err:
        raise ValueError(f"Cannot restore {filepath!r}: the file is corrupt or not a graphkeras "
                         f"state ({type(err).__name__}: {err}).") from err


def _restore(archive, model):
    read_metadata(archive)
    training_state = archive.json(TRAINING_STATE, required=False)
    if training_state is not None and not isinstance(training_state, dict):
        raise ValueError(f"{archive.where}: {TRAINING_STATE} is not a JSON object.")
    with archive.h5(WEIGHTS) as f:
        names, datasets = named_datasets(f, archive.where, WEIGHTS)
        check_sizes(f, datasets, archive.where, WEIGHTS)
        weights = list(model.weights)
        if len(weights) != len(datasets):
            raise ValueError(f"{archive.where}: {WEIGHTS} holds {len(datasets)} weights, but "
                             f"model {model.name!r} has {len(weights)}.")
        values = [read_array(d, v.shape, WEIGHTS, archive.where, v.dtype)
                  for v, d in zip(weights, datasets)]
    optimizer = None
    if getattr(model, "optimizer", None) is not None:
        with archive.h5(OPTIMIZER, required=False) as f:
            if f is not None:
                names, datasets = named_datasets(f, archive.where, OPTIMIZER)
                check_sizes(f, datasets, archive.where, OPTIMIZER)
                optimizer = [(n, read_array(d, None, OPTIMIZER, archive.where))
                             for n, d in zip(names, datasets)]
    metric_state = {}
    with archive.h5(METRICS, required=False) as f:
        if f is not None:
            names, datasets = named_datasets(f, archive.where, METRICS)
            check_sizes(f, datasets, archive.where, METRICS)
            metric_state = {n: read_array(d, None, METRICS, archive.where)
                            for n, d in zip(names, datasets)}
    with archive.h5(RNG, required=False) as f:  # checked before anything is assigned
        rng = state.read_rng(model, f, archive.where) if f is not None else []
    if optimizer is not None:
        from graphkeras.saving.training_config import restore_optimizer_state
        restore_optimizer_state(model, optimizer)  # checks every shape before it assigns
    for var, value in zip(weights, values):
        var.assign(value)
    for gen, seed, counter in rng:
        gen.seed = seed
        gen.state.assign(counter)
    return training_state, metric_state


