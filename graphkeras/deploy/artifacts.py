"""A model's graphs as a folder of deployment artefacts (``graphkeras compile``).

See :mod:`graphkeras.deploy` for the folder layout and the manifest schema.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from graphkeras.deploy.check import check_graph, check_onnx, data_arrays
from graphkeras.deploy.loading import has_training_config, one_line
from graphkeras.deploy.specs import (DeployError, input_specs, output_specs,
                                     sample_weight_specs, target_specs)

FORMAT = "graphkeras-deploy"
VERSION = 1
FILES = {"predict": "predict.onnx", "train_step": "train_step.onnx",
         "test_step": "test_step.onnx", "predict_from_state": "predict_from_state.onnx"}
STATE_FILE = "state.bin"
MANIFEST = "manifest.json"
ALIGN = 64  # byte alignment of each tensor in the state file
TARGETS = ("predict", "train", "all")


class Artefact:
    """One graph to write and check: its ONNX model, IR graph and how to feed both."""

    def __init__(self, label, proto, graph, data, state_inputs=(), constants=()):
        self.label = label
        self.file = FILES[label]
        self.proto = proto
        self.graph = graph
        self.data = data  # [(name, shape, dtype, role, classes)]
        self.state_inputs = list(state_inputs)  # [(input name, state key)]
        self.constants = list(constants)  # IR inputs embedded in the ONNX file: arrays

    def feeds(self, state, batch):
        data = data_arrays(self.data, batch)
        onnx_feeds = dict(data)
        onnx_feeds.update({name: state[key] for name, key in self.state_inputs})
        ref = [data[name] for name, *_ in self.data] + \
            [state[key] for _, key in self.state_inputs] + self.constants
        for value, array in zip(self.graph.inputs, ref):  # ONNX Runtime lets (1,) pass for ()
            if len(value.shape) != array.ndim or any(
                    d is not None and d != n for d, n in zip(value.shape, array.shape)):
                raise DeployError(f"self-check failed: {self.file} input {value.name!r} has "
                                  f"shape {value.shape} but its value has shape {array.shape}")
        return onnx_feeds, ref


def compile_artifacts(model, out_dir, target="all", opset=None, batch_size=None,
                      sample_weight=None, providers=None, check=True, source=None,
                      tvm=False, tune_trials=0) -> dict:
    """Write ``model``'s deployment artefacts to ``out_dir`` and return the manifest.

    ``target``: ``"predict"`` (``predict.onnx``), ``"train"`` (``train_step.onnx``,
    ``test_step.onnx`` and the state file) or ``"all"`` (both, and
    ``predict_from_state.onnx``). ``batch_size`` fixes the batch
    axis (otherwise dynamic). ``sample_weight``: whether the steps take per-sample
    weights (None: as the model's own compiled step, else no). With ``check`` (the
    default) every written graph is verified (``onnx.checker`` with full shape inference,
    then a fresh ONNX Runtime session at two batch sizes against the numpy reference)
    before anything replaces the files in ``out_dir``; a failure raises
    :class:`DeployError` and leaves ``out_dir`` as it was. ``tvm`` also builds a TVM
    library of each graph (``tune_trials`` > 0 tunes it first; see
    :mod:`graphkeras.deploy.tvm_libs`), checked the same way.
    """
    if target not in TARGETS:
        raise DeployError(f"unknown target {target!r} (expected one of {', '.join(TARGETS)})")
    if batch_size is not None and int(batch_size) < 1:
        raise DeployError(f"batch size must be at least 1, not {batch_size}")
    steps = target in ("train", "all")
    if steps and not has_training_config(model):
        raise DeployError(f"model {model.name!r} has no training configuration (it was saved "
                          "without compile(), or as JSON), so it has no train step: compile it "
                          "before saving, or use --target predict")
    kwargs = {} if opset is None else {"opset": int(opset)}
    x_specs = input_specs(model)
    predict = _predict_graph(model)
    outputs = output_specs(predict.graph, model)
    artefacts, manifest = [], _header(model, batch_size, source, providers, opset)
    state_values, state_index, keys = {}, [], {}
    if steps:
        train, test = _steps(model, x_specs, outputs, sample_weight)
        # with target "all", the weights predict reads are state too (predict_from_state)
        keys = _state_keys([train, test], zip(predict.param_names, predict.params)
                           if target == "all" else ())
        roles, details = _roles(model)
        for label, step in (("train_step", train), ("test_step", test)):
            proto = _lower(lambda: step.onnx_model(**kwargs), label, batch_size)
            entry, artefact = _step_entry(label, step, proto, keys, roles, details, outputs,
                                          batch_size)
            manifest["graphs"][label] = entry
            artefacts.append(artefact)
        for var, key in keys.values():
            # np.array, not ascontiguousarray (which makes scalars 1-D)
            state_values[key] = np.array(var.numpy(), order="C")
            state_index.append((key, var, roles.get(id(var), "state"), details.get(id(var), {})))
    if target in ("predict", "all"):
        proto = _lower(lambda: predict.onnx_model(embed_weights=True, **kwargs), "predict",
                       batch_size)
        entry, artefact = _predict_entry(predict, proto, keys, batch_size)
        manifest["graphs"]["predict"] = {"file": FILES["predict"], **entry}
        artefacts.append(artefact)
    if target == "all":
        proto = _lower(lambda: predict.onnx_model(**kwargs), "predict_from_state", batch_size)
        entry, artefact = _predict_from_state_entry(predict, proto, keys, batch_size)
        manifest["graphs"]["predict_from_state"] = entry
        artefacts.append(artefact)
    if state_index:
        manifest["state"] = {"file": STATE_FILE, "byte_order": "little", "alignment": ALIGN,
                             "tensors": []}
    libraries = None
    if tvm or tune_trials:
        libraries = dict(tune_trials=int(tune_trials or 0))
    _write(out_dir, artefacts, manifest, state_values, state_index, batch_size, check, providers,
           libraries)
    return manifest


# ---------------------------------------------------------------- graphs
def _predict_graph(model):
    """The model's traced inference graph (without opening a session for it)."""
    compiled = getattr(model, "_predict_graph", None)
    if compiled is not None:
        return compiled
    saved = model._run_eagerly
    model._run_eagerly = True  # the reference path: no session is opened for it
    try:
        return model._trace_predict()
    except DeployError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"cannot trace the predict graph of model {model.name!r}: "
                          f"{one_line(err)}") from None
    finally:
        model._run_eagerly = saved


def _steps(model, x_specs, outputs, sample_weight):
    """The train and test steps: the model's own compiled ones (their data specs come
    from real data), or traced here from the specs :func:`target_specs` derives."""
    from graphkeras.engine.steps import CompiledStep, DataSpec
    found = {}
    for key, step in getattr(model, "_steps", {}).items():
        if step.repeat == 1 and (sample_weight is None or bool(step.spec.sw) == sample_weight):
            found.setdefault(step.kind, step)
    if "train" in found:
        spec = found["train"].spec
    else:
        y_specs = target_specs(model, outputs)
        sw_specs = sample_weight_specs(len(outputs)) if sample_weight else []
        ys = [np.zeros((1,) + tuple(s[1][1:]), s[2]) for s in y_specs]
        sws = [np.ones((1,), np.float32) for _ in sw_specs]
        structure = None if len(ys) == 1 else [None] * len(ys)
        spec = DataSpec(model._input_specs(), None, ys, structure, sws)
    out = []
    for kind in ("train", "test"):
        step = found.get(kind)
        if step is None or step.spec.key() != spec.key():
            try:
                model._build_containers()
                model._metrics_seen = True
                step = CompiledStep(model, kind, spec, eager=True)
            except Exception as err:  # noqa: BLE001
                raise DeployError(f"cannot trace the {kind} step of model {model.name!r}: "
                                  f"{one_line(err)}") from None
        out.append(step)
    return out


def _lower(fn, label, batch_size):
    try:
        proto = fn()
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"cannot lower the {label} graph to ONNX: {one_line(err)}") from None
    if batch_size is not None:
        import onnx
        copy = onnx.ModelProto()
        copy.CopyFrom(proto)  # the steps cache their protos: pin a copy
        proto = copy
        pin_batch(proto, int(batch_size))
    return proto


def pin_batch(proto, batch):
    """Fix the dynamic batch axis (``batch``) of a model's inputs and outputs."""
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) and dims[0].dim_param == "batch":
            dims[0].dim_value = batch


# ---------------------------------------------------------------- state
def _state_keys(steps, extra=()):
    """``id(variable) -> (variable, key)``: each piece of state once, named after the
    input that reads it in the first step (the train step) that does; then ``extra``
    ``(name, variable)`` pairs."""
    keys, taken = {}, set()
    pairs = [pair for step in steps for pair in
             list(zip(step.state_names, step.read)) + [(v.path, v) for v in step.written]]
    for name, var in pairs + list(extra):
        if id(var) in keys:
            continue
        key, i = name, 0
        while key in taken:
            i += 1
            key = f"{name}_{i}"
        taken.add(key)
        keys[id(var)] = (var, key)
    return keys


def _roles(model):
    """``{id(variable): role}`` (weight, optimizer, counter, metric or rng) and
    ``{id(variable): {"metric": name}}`` for metric accumulators."""
    from graphkeras.layers.core import SeedGenerator
    roles, details = {}, {}
    for layer in [model] + model._flatten_sublayers():
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator):
                roles[id(value.state)] = "rng"
    for var in model.weights:
        roles.setdefault(id(var), "weight")
    for metric in model.metrics:
        for var in metric.weights:
            roles.setdefault(id(var), "metric")
            details.setdefault(id(var), {"metric": metric.name})
    optimizer = model.optimizer
    for opt in optimizer if isinstance(optimizer, (list, tuple)) else [optimizer]:
        if opt is None:
            continue
        iterations = getattr(opt, "iterations", None)
        for var in getattr(opt, "variables", []):
            roles.setdefault(id(var), "counter" if var is iterations else "optimizer")
        for attr in ("_learning_rate", "_current_learning_rate"):
            var = getattr(opt, attr, None)
            if var is not None and hasattr(var, "numpy"):
                roles.setdefault(id(var), "optimizer")
    return roles, details


def _tensor(name, shape, dtype, kind, role, **extra):
    return {"name": name, "shape": [None if d is None else int(d) for d in shape],
            "dtype": dtype, "kind": kind, "role": role, **extra}


def _fixed(shape, batch_size):
    shape = list(shape)
    if batch_size is not None and shape and shape[0] is None:
        shape[0] = int(batch_size)
    return shape


def _step_entry(label, step, proto, keys, roles, details, outputs, batch_size):
    spec = step.spec
    n_x, n_y = len(spec.x), len(spec.y)
    inputs, data = [], []
    for i, (name, value) in enumerate(zip(step.data_names, step.graph.inputs)):
        role = "x" if i < n_x else ("y" if i < n_x + n_y else "sample_weight")
        classes = None
        if role == "y" and value.dtype in ("int32", "int64") and i - n_x < len(outputs):
            classes = outputs[i - n_x][1][-1]
        inputs.append(_tensor(name, _fixed(value.shape, batch_size), value.dtype, "data", role))
        data.append((name, tuple(_fixed(value.shape, batch_size)), value.dtype, role, classes))
    state_inputs = []
    feeds_of = {}
    for name, var, value in zip(step.state_names, step.read, step.graph.inputs[step.n_data:]):
        key = keys[id(var)][1]
        feeds_of[id(var)] = name
        state_inputs.append((name, key))
        inputs.append(_tensor(name, value.shape, value.dtype, "state",
                              roles.get(id(var), "state"), state=key, variable=var.name,
                              **details.get(id(var), {})))
    outs, feedback = [], {}
    n_logs = len(step.log_names)
    for i, (name, value) in enumerate(zip(step.output_names, step.graph.outputs)):
        if i < n_logs:
            outs.append(_tensor(name, value.shape, value.dtype, "log", "log"))
            continue
        var = step.written[i - n_logs]
        feeds = feeds_of.get(id(var))
        outs.append(_tensor(name, value.shape, value.dtype, "state", roles.get(id(var), "state"),
                            state=keys[id(var)][1], variable=var.name, feeds=feeds))
        if feeds is not None:
            feedback[name] = feeds
    entry = {"file": FILES[label], "kind": step.kind, "batch_size": batch_size,
             "inputs": inputs, "outputs": outs, "feedback": feedback}
    return entry, Artefact(label, proto, step.graph, data, state_inputs)


def _predict_entry(compiled, proto, keys, batch_size):
    graph = compiled.graph
    by_var = {id(var): key for var, key in keys.values()}
    inputs, data = [], []
    for name, value in zip(compiled.data_names, graph.inputs):
        inputs.append(_tensor(name, _fixed(value.shape, batch_size), value.dtype, "data", "x"))
        data.append((name, tuple(_fixed(value.shape, batch_size)), value.dtype, "x", None))
    outs = [_tensor(o.name, _fixed(v.shape, batch_size), v.dtype, "output", "output")
            for o, v in zip(proto.graph.output, graph.outputs)]
    weights = [_tensor(name, v.shape, v.dtype, "initializer", "weight", variable=var.name,
                       state=by_var.get(id(var)))
               for name, var, v in zip(compiled.param_names, compiled.params,
                                       graph.inputs[compiled.n_data:])]
    constants = [np.asarray(var.numpy()) for var in compiled.params]
    entry = {"kind": "predict", "batch_size": batch_size, "inputs": inputs, "outputs": outs,
             "weights": weights}
    return entry, Artefact("predict", proto, graph, data, constants=constants)


def _predict_from_state_entry(compiled, proto, keys, batch_size):
    """The predict graph with the weights as inputs named like the steps' state inputs."""
    graph = compiled.graph
    by_var = {id(var): key for var, key in keys.values()}
    entry, artefact = _predict_entry(compiled, proto, keys, batch_size)
    state_inputs = []
    for name, var, value in zip(compiled.param_names, compiled.params,
                                graph.inputs[compiled.n_data:]):
        state_inputs.append((name, by_var[id(var)]))
        entry["inputs"].append(_tensor(name, value.shape, value.dtype, "state", "weight",
                                       state=by_var[id(var)], variable=var.name))
    del entry["weights"]
    entry = {"file": FILES["predict_from_state"], **entry}
    return entry, Artefact("predict_from_state", proto, graph, artefact.data, state_inputs)


def _header(model, batch_size, source, providers, opset):
    from graphkeras import __version__
    from graphkeras.compiler.onnx_builder import DEFAULT_OPSET
    from graphkeras.runtime.providers import get_providers
    return {"format": FORMAT, "version": VERSION, "graphkeras_version": __version__,
            "model": model.name, "source": source, "opset": int(opset or DEFAULT_OPSET),
            "batch_size": batch_size, "providers": list(providers or get_providers()),
            "graphs": {}}


# ---------------------------------------------------------------- writing
def state_bytes(values, index):
    """The state file: each tensor's raw little-endian C-order bytes at an offset
    aligned to :data:`ALIGN`; returns ``(bytes, manifest entries)``."""
    chunks, entries, offset = [], [], 0
    for key, var, role, extra in index:
        array = values[key]
        array = np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")
        pad = (-offset) % ALIGN
        chunks.append(b"\0" * pad)
        offset += pad
        raw = array.tobytes()
        entries.append(_tensor(key, array.shape, array.dtype.name, "state", role,
                               variable=var.name, **extra, offset=offset, nbytes=len(raw)))
        chunks.append(raw)
        offset += len(raw)
    return b"".join(chunks), entries


def read_state(path, entries) -> dict:
    """``{name: array}`` from a state file and its manifest entries."""
    with open(path, "rb") as f:
        blob = f.read()
    return {e["name"]: np.frombuffer(blob, dtype=np.dtype(e["dtype"]).newbyteorder("<"),
                                     count=int(np.prod(e["shape"], dtype=np.int64)),
                                     offset=e["offset"]).reshape(e["shape"]).copy()
            for e in entries}


def _write(out_dir, artefacts, manifest, state_values, state_index, batch_size, check,
           providers, libraries=None):
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DeployError(f"cannot write to {out_dir}: it exists and is not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-compile-", dir=out_dir)
    except OSError as err:
        raise DeployError(f"cannot write to {out_dir}: {err.strerror}") from None
    try:
        written = []
        for artefact in artefacts:
            _put(tmp, artefact.file, artefact.proto.SerializeToString())
            written.append(artefact.file)
        if state_index:
            blob, entries = state_bytes(state_values, state_index)
            manifest["state"]["tensors"] = entries
            _put(tmp, STATE_FILE, blob)
            written.append(STATE_FILE)
        manifest["checked"] = None
        if check:
            manifest["checked"] = verify(tmp, artefacts, manifest, batch_size, providers)
        if libraries is not None:
            from graphkeras.deploy.tvm_libs import build_libraries
            state = read_state(os.path.join(tmp, STATE_FILE), manifest["state"]["tensors"]) \
                if state_index else {}
            written += build_libraries(tmp, artefacts, manifest, state, batch_size,
                                       libraries["tune_trials"], check)
        _put(tmp, MANIFEST, dumps(manifest).encode("utf-8"))
        _replace_all(tmp, out_dir, written + [MANIFEST])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify(folder, artefacts, manifest, batch_size, providers=None) -> dict:
    """Check every written graph in ``folder`` (see :mod:`graphkeras.deploy.check`) with
    the state read back from the state file; returns what was checked."""
    state = {}
    if manifest.get("state"):
        state = read_state(os.path.join(folder, STATE_FILE), manifest["state"]["tensors"])
    batches = [int(batch_size)] if batch_size is not None else [1, 3]
    errors = {}
    for artefact in artefacts:
        path = os.path.join(folder, artefact.file)
        check_onnx(path)
        errors[artefact.file] = check_graph(
            path, artefact.graph, lambda b, a=artefact: a.feeds(state, b), batches, providers)
    return {"batch_sizes": batches, "max_abs_error": errors, "onnx_checker": "full_check"}


def dumps(obj, indent=0) -> str:
    """JSON with one line per tensor entry (and per short list), nested objects indented."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict) and obj and not ("name" in obj and "dtype" in obj):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def _put(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def _replace_all(tmp, out_dir, names):
    """Move the checked files over the folder's; artefacts of an earlier compile that this
    one did not write are removed (the manifest describes the folder)."""
    previous = os.path.join(out_dir, MANIFEST)
    if os.path.exists(previous):
        libraries = {os.path.splitext(f)[0] + ".so" for f in FILES.values()}
        for stale in set(FILES.values()) | libraries | {STATE_FILE}:
            if stale not in names and os.path.exists(os.path.join(out_dir, stale)):
                os.remove(os.path.join(out_dir, stale))
    for name in names:
        os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
