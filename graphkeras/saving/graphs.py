"""The compiled graphs of a native save: ``graphs/predict.onnx``,
``graphs/train_step.onnx``, ``graphs/test_step.onnx`` and ``graphs/manifest.json``.

No graph embeds the model's arrays: their state — weights, optimizer slots, metric
accumulators, random generators' counters, the step counter — are graph *inputs*,
and the manifest says where each one's current value is stored in the same save
(``source``: ``{"member": "weights.h5", "key": "dense/kernel:0"}``), so a save holds
every weight once. The manifest (``{"format": "graphkeras-graphs", "version": 2,
"graphs": {name: entry}}``) describes each graph's inputs and outputs: name, shape
(``null`` for a dynamic dimension), dtype, role (``data``, ``target``,
``sample_weight``, ``weight``, ``optimizer``, ``metric``, ``counter``, ``rng``;
outputs also ``output`` and ``log``), for a state input the variable's name and its
``source`` (or, for a small value not stored elsewhere, the ``value`` itself), and
for each ``<name>/new`` output of a step the input it feeds (``feeds``).

To run a graph elsewhere, feed its data inputs and, for every other input, the
array its ``source`` names — or let :func:`load_graph` read them:

    proto, state = graphkeras.saving.load_graph("m.keras", "predict")
    session = onnxruntime.InferenceSession(embed_state(proto, state).SerializeToString())
    session.run(None, {"input_1": x})

(:func:`load_predict_onnx` does the first two lines: a self-contained predict
graph; ``gk.export.save_predict_onnx`` writes one from a live model.) Files of
manifest version 1 embedded the predict graph's weights (``"weights": "embedded"``);
they load, and :func:`load_graph` reads them, the same way.
"""
from __future__ import annotations

import logging

import numpy as np

from graphkeras.saving.container import (GRAPH_FILES, MANIFEST, METRICS, OPTIMIZER, RNG,
                                         WEIGHTS)
from graphkeras.saving.state import written_keys

logger = logging.getLogger("graphkeras.saving.native")

MANIFEST_VERSION = 2
DATA_ROLES = ("data", "target", "sample_weight")


# ======================================================================== saving
def build(members, model):
    """``{name: serialized ONNX model}`` and the manifest describing them."""
    graphs, manifest = {}, {"format": "graphkeras-graphs", "version": MANIFEST_VERSION,
                            "graphs": {}}
    if model._input_specs() is None:
        return graphs, manifest
    sources = state_sources(members, model)
    try:
        proto, entry = _predict(model, sources)
    except Exception as err:  # noqa: BLE001 - the graphs are artefacts; the model is saved
        logger.warning("The predict graph could not be exported to ONNX (%s: %s); it is left out "
                       "of the saved model.", type(err).__name__, err)
    else:
        graphs["predict"] = proto.SerializeToString()
        manifest["graphs"]["predict"] = entry
    kinds = [("train", "train_step")] if members.include_optimizer else []
    for kind, label in kinds + [("test", "test_step")]:
        key, step = _pick_step(model, kind)
        if step is None:
            continue
        try:
            graphs[label] = step.onnx_model().SerializeToString()
        except Exception as err:  # noqa: BLE001 - the graphs are artefacts; the model is saved
            logger.warning("The %s graph could not be exported to ONNX (%s: %s); it is left out "
                           "of the saved model.", label, type(err).__name__, err)
            continue
        manifest["graphs"][label] = _step_manifest(step, key, label, model, sources)
    return graphs, manifest


def _predict(model, sources):
    """The predict graph with the weights as inputs (the ONNX model the runtime runs,
    lowered once per traced graph), and its manifest entry; with the weights embedded
    instead (as ``gk.export.predict_onnx``) if one is stored in no member."""
    model.make_predict_function()
    compiled = model._predict_graph
    inputs = [_tensor(n, v, "data") for n, v in zip(compiled.data_names, compiled.graph.inputs)]
    weights = "inputs"
    for name, var, value in zip(compiled.param_names, compiled.params,
                                compiled.graph.inputs[compiled.n_data:]):
        role, source = sources.get(id(var), ("state", None))
        extra = {"variable": var.name, "source": source}
        if source is None:
            if int(np.prod(var.shape, dtype=np.int64)) > 16:
                weights = "embedded"
                break
            extra["value"] = np.asarray(var.numpy()).tolist()
        inputs.append(_tensor(name, value, role, **extra))
    if weights == "embedded":
        from graphkeras import export
        proto = export.predict_onnx(model)
        inputs = inputs[:compiled.n_data]
    else:
        proto = compiled.onnx_model()
    outputs = [_tensor(o.name, v, "output") for o, v in
               zip(proto.graph.output, compiled.graph.outputs)]
    return proto, {"file": GRAPH_FILES["predict"], "weights": weights, "inputs": inputs,
                   "outputs": outputs}


def _pick_step(model, kind):
    steps = [(key, s) for key, s in getattr(model, "_steps", {}).items() if key[0] == kind]
    single = [(key, s) for key, s in steps if s.repeat == 1]
    return (single or steps or [(None, None)])[-1]


def _tensor(name, ir_value, role, /, **extra):
    return {"name": name, "shape": list(ir_value.shape), "dtype": ir_value.dtype, "role": role,
            **extra}


def state_sources(members, model) -> dict:
    """``id(variable) -> (role, {"member", "key"})`` for every variable whose value
    the saved files hold."""
    out = {}

    def add(variables, role, member, pairs_keys):
        for var, key in zip(variables, pairs_keys):
            out.setdefault(id(var), (role, {"member": member, "key": key}))

    keys = written_keys(members.weights)
    add(model.weights, "weight", WEIGHTS, keys)
    add([g.state for g in members.generators], "rng", RNG,
        [f"generator_{i}" for i in range(len(members.generators))])
    metric_vars = [v for m in model.metrics for v in m.weights]
    add(metric_vars, "metric", METRICS, written_keys(members.metrics))
    by_name = {}
    for name, key in zip([n for n, _ in members.optimizer or []],
                         written_keys(members.optimizer or [])):
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


# ======================================================================== loading
def prebuild_steps(model, manifest):
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


def load_graph(filepath, graph="predict"):
    """Graph ``graph`` (``"predict"``, ``"train_step"`` or ``"test_step"``) of the native
    save at ``filepath`` (a ``.keras`` file or a folder), and the saved value of each of
    its state inputs: ``(onnx.ModelProto, {input name: array})``. Feed the arrays with
    the data (a step's ``<name>/new`` outputs are the next step's state, see the
    manifest's ``feedback``), or :func:`embed_state` them for a self-contained graph.
    The file is checked as :func:`graphkeras.saving.load_model` checks it; nothing in
    it is run."""
    import os

    import onnx

    from graphkeras.saving import container
    from graphkeras.saving.state import named_datasets, read_array
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise OSError(f"No file or directory found at {filepath}")
    with container.open_archive(filepath) as archive:
        container.read_metadata(archive)
        manifest = archive.json(MANIFEST, required=False)
        entry = (manifest or {}).get("graphs", {}).get(graph) if isinstance(manifest, dict) \
            else None
        if not isinstance(entry, dict) or entry.get("file") != GRAPH_FILES.get(graph):
            raise ValueError(f"{filepath} holds no {graph!r} graph (saved graphs: "
                             f"{sorted((manifest or {}).get('graphs', {}))}).")
        try:
            proto = onnx.load_from_string(archive.read(entry["file"]))
        except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise ValueError(f"{filepath}: {entry['file']!r} is not a valid ONNX model "
                             f"({type(err).__name__}: {err}).") from None
        wanted = {}  # member -> [(input name, key, dtype)]
        state = {}
        for t in entry.get("inputs", []):
            if t.get("role") in DATA_ROLES:
                continue
            source = t.get("source")
            if isinstance(source, dict) and source.get("member") in (WEIGHTS, RNG, OPTIMIZER,
                                                                     METRICS):
                wanted.setdefault(source["member"], []).append((t["name"], source.get("key"),
                                                                t["dtype"]))
            elif "value" in t:
                state[t["name"]] = np.asarray(t["value"], t["dtype"])
            else:
                raise ValueError(f"{filepath}: the manifest gives no value for input "
                                 f"{t.get('name')!r} of the {graph} graph.")
        for member, items in wanted.items():
            with archive.h5(member) as f:
                _, datasets = named_datasets(f, archive.where, member)
                by_key = {ds.name.lstrip("/"): ds for ds in datasets}
                for name, key, dtype in items:
                    if key not in by_key:
                        raise ValueError(f"{filepath}: {member} has no dataset {key!r} for input "
                                         f"{name!r} of the {graph} graph.")
                    state[name] = read_array(by_key[key], None, member, archive.where, dtype)
    return proto, state


def embed_state(proto, state):
    """A copy of ONNX model ``proto`` whose inputs named in ``state`` are initializers
    holding its arrays: a self-contained graph for any ONNX runtime."""
    import onnx
    from onnx import numpy_helper
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    kept = [i for i in out.graph.input if i.name not in state]
    del out.graph.input[:]
    out.graph.input.extend(kept)
    out.graph.initializer.extend(numpy_helper.from_array(np.asarray(value), name)
                                 for name, value in state.items())
    return out


def load_predict_onnx(filepath):
    """The predict graph of the native save at ``filepath`` with its weights embedded
    (an ``onnx.ModelProto`` that any ONNX runtime runs on the data alone)."""
    return embed_state(*load_graph(filepath, "predict"))
