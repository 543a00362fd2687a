"""A compiled model's training configuration and optimizer state, as tf.keras 2.x saves them.

``training_config(model)`` is the dict tf.keras writes as the ``training_config``
attribute of an .h5 file (``loss``, ``metrics``, ``weighted_metrics``,
``loss_weights``, ``optimizer_config``); ``compile_from_training_config`` compiles a
model from one (written by tf.keras or by graphkeras). ``optimizer_state`` /
``restore_optimizer_state`` move the optimizer's variables (``iteration:0``, then the
slots, named as tf.keras names them: ``Adam/m/dense/kernel:0``) in and out.

Nothing here depends on the file format: the HDF5 and the native writers share it.
"""
from __future__ import annotations

import json

import numpy as np

from graphkeras import serialization

# ``"accuracy"``/``"crossentropy"`` as compile strings resolve to these metric classes; tf.keras
# saves them as ``MeanMetricWrapper`` around the function of the same meaning.
_STRING_METRICS = ("accuracy", "acc", "crossentropy", "ce")
_WRAPPED_FN = {
    "BinaryAccuracy": "binary_accuracy",
    "CategoricalAccuracy": "categorical_accuracy",
    "SparseCategoricalAccuracy": "sparse_categorical_accuracy",
    "BinaryCrossentropy": "binary_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}

# slot names of tf.keras' legacy (pre-2.11) optimizers -> the current ones
_LEGACY_SLOTS = {
    "SGD": {"momentum": "m"},
    "RMSprop": {"rms": "velocity", "momentum": "momentum", "mg": "average_gradient"},
    "Adam": {"m": "m", "v": "v", "vhat": "vhat"},
    "Adagrad": {"accumulator": "accumulator"},
    "Adadelta": {"accum_grad": "accumulated_grad", "accum_var": "accumulated_delta_var"},
    "Adamax": {"m": "m", "v": "u"},
    "Nadam": {"m": "m", "v": "v"},
    "Ftrl": {"accumulator": "accumulator", "linear": "linear"},
}


# ---------------------------------------------------------------- writing
def training_config(model) -> dict | None:
    """tf.keras' ``training_config`` of a compiled model (None when not compiled)."""
    if not getattr(model, "_is_compiled", False) or model.optimizer is None:
        return None
    args = model._get_compile_args()
    optimizer = model.optimizer
    if isinstance(optimizer, (list, tuple)):
        optimizer_config = [_optimizer_config(o) for o in optimizer]
    else:
        optimizer_config = _optimizer_config(optimizer)
    metrics, weighted = _serialized_metrics(model, args.get("metrics"),
                                            args.get("weighted_metrics"))
    return {"loss": _serialize_loss(args.get("loss")),
            "metrics": metrics,
            "weighted_metrics": weighted,
            "loss_weights": _plain(args.get("loss_weights")),
            "optimizer_config": optimizer_config}


def _optimizer_config(optimizer) -> dict:
    cls = type(optimizer)
    name = cls.__dict__.get("_registered_name")
    if name is None:
        builtin = serialization._REGISTRY.get("optimizer", {}).get(cls.__name__) is cls and \
            cls.__module__.startswith("graphkeras.")
        name = f"Custom>{cls.__name__}" if builtin else cls.__name__  # tf.keras 2.13+ writes this
    return {"class_name": name, "config": _plain(optimizer.get_config())}


def _serialize_loss(loss):
    from graphkeras import losses as losses_mod
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, dict):
        return {k: _serialize_loss(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [_serialize_loss(v) for v in loss]
    if isinstance(loss, type) and issubclass(loss, losses_mod.Loss):
        loss = loss()
    if isinstance(loss, losses_mod.Loss):
        name = type(loss).__dict__.get("_registered_name") or type(loss).__name__
        return {"class_name": name, "config": _plain(loss.get_config())}
    return losses_mod.serialize(loss, use_legacy_format=True)


class _Spec:
    """Stands for a target or prediction when only its shape matters."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _output_shapes(model):
    outputs = getattr(model, "outputs", None)
    if outputs:
        return [tuple(t.shape) for t in outputs]
    try:
        model._ensure_output_names()
    except Exception:  # noqa: BLE001 - a model without known inputs: shapes unknown
        return None
    from graphkeras.engine.keras_tensor import flatten
    structure = getattr(model, "_output_structure", None)
    if structure is None:
        return None
    return [tuple(t.shape) for t in flatten(structure)]


def _serialized_metrics(model, metrics, weighted_metrics):
    """Both metric lists as tf.keras saves them: per output, the metric objects the
    compile arguments resolve to, named as tf.keras names them (``out_mae``)."""
    from graphkeras.engine import compile_utils as cu
    if metrics is None and weighted_metrics is None:
        return None, None
    container = getattr(model, "compiled_metrics", None)
    if container is not None and container._built:
        rows = [(container._metric_specs[i], container.metrics_per_output[i],
                 container._weighted_specs[i], container.weighted_per_output[i])
                for i in range(len(container.output_names))]
        out_m = [[_metric_entry(s, m, m.name) for s, m in zip(specs, objs)]
                 for specs, objs, _, _ in rows]
        out_w = [[_metric_entry(s, m, m.name) for s, m in zip(specs, objs)]
                 for _, _, specs, objs in rows]
    else:
        output_names = model.output_names
        if output_names is None:
            model._ensure_output_names()
            output_names = model.output_names
        shapes = _output_shapes(model)
        m_specs = cu._metric_lists(metrics, output_names)
        w_specs = cu._metric_lists(weighted_metrics, output_names)
        if shapes is None:  # nothing to resolve 'accuracy' with: keep what the user gave
            return _plain_metrics(metrics), _plain_metrics(weighted_metrics)
        multi = len(output_names) > 1
        taken = set()
        out_m, out_w = [], []
        for i, name in enumerate(output_names):
            y = _Spec(shapes[i])
            row_m, row_w = [], []
            for spec, dest, weighted in [(s, row_m, False) for s in m_specs[i]] + \
                    [(s, row_w, True) for s in w_specs[i]]:
                metric = cu._resolve_metric(spec, y, y)
                base = cu._metric_name(spec, metric)
                full = f"{name}_{base}" if multi else base
                if full in taken and weighted:
                    full = f"{name}_weighted_{base}" if multi else f"weighted_{base}"
                taken.add(full)
                dest.append(_metric_entry(spec, metric, full))
            out_m.append(row_m)
            out_w.append(row_w)
    out_m = None if metrics is None else [row or [None] for row in out_m]
    out_w = None if weighted_metrics is None else [row or [None] for row in out_w]
    return out_m, out_w


def _metric_entry(spec, metric, name):
    """One metric as tf.keras' legacy ``{"class_name", "config"}``."""
    from graphkeras import metrics as metrics_mod
    config = metric.get_config()
    dtype = config.get("dtype", "float32")
    class_name = type(metric).__name__
    if isinstance(spec, str) and spec in _STRING_METRICS and class_name in _WRAPPED_FN:
        return {"class_name": "MeanMetricWrapper",
                "config": {"name": name, "dtype": dtype, "fn": _WRAPPED_FN[class_name]}}
    serialized = metrics_mod.serialize(metric)
    config = dict(serialized["config"])
    config["name"] = name
    registered = type(metric).__dict__.get("_registered_name")
    return {"class_name": registered or serialized["class_name"], "config": _plain(config)}


def _plain_metrics(spec):
    from graphkeras import metrics as metrics_mod
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return {k: _plain_metrics(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_plain_metrics(v) for v in spec]
    if isinstance(spec, metrics_mod.Metric):
        s = metrics_mod.serialize(spec)
        return {"class_name": s["class_name"], "config": _plain(s["config"])}
    return metrics_mod.serialize(spec)


def _plain(value):
    """JSON-able copy (numpy scalars and arrays as Python numbers and lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------- reading
def compile_from_training_config(model, config, custom_objects=None):
    """``model.compile(...)`` with the settings of a tf.keras ``training_config``
    (a dict or its JSON string), as tf.keras' ``load_model`` does."""
    if isinstance(config, (str, bytes)):
        config = json.loads(config)
    if not isinstance(config, dict):
        raise ValueError(f"The training configuration must be a JSON object; got "
                         f"{type(config).__name__}.")
    with serialization.custom_object_scope(custom_objects or {}):
        optimizer_config = config.get("optimizer_config")
        if isinstance(optimizer_config, list):
            optimizer = [_deserialize_optimizer(c, custom_objects) for c in optimizer_config]
        elif optimizer_config is None:
            optimizer = "rmsprop"
        else:
            optimizer = _deserialize_optimizer(optimizer_config, custom_objects)
        loss = _deserialize_nested(config.get("loss"), _loss_from, custom_objects)
        output_names = model.output_names
        n_outputs = len(output_names) if output_names is not None else None
        metrics = _compile_metrics(config.get("metrics"), custom_objects, n_outputs)
        weighted = _compile_metrics(config.get("weighted_metrics"), custom_objects, n_outputs)
        if n_outputs and n_outputs > 1:
            # saved names already carry the output name ("out_mae"); tf.keras compiles a
            # loaded model without prefixing them again, compile here prefixes: strip it
            for spec in (metrics, weighted):
                _strip_output_prefixes(spec, output_names)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      loss_weights=config.get("loss_weights"), weighted_metrics=weighted)
    return model


def _deserialize_optimizer(config, custom_objects):
    from graphkeras import optimizers
    if isinstance(config, str):
        return optimizers.get(config)
    try:
        return optimizers.deserialize(config, custom_objects=custom_objects)
    except ValueError:
        class_name = str(config.get("class_name", ""))
        if ">" not in class_name:
            raise
        # "Custom>Adam": tf.keras 2.13+ writes its built-in optimizers under this name
        bare = dict(config, class_name=class_name.split(">", 1)[1], registered_name=None)
        return optimizers.deserialize(bare, custom_objects=custom_objects)


def _is_object_config(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _deserialize_nested(value, fn, custom_objects):
    if value is None:
        return None
    if _is_object_config(value) or isinstance(value, str):
        return fn(value, custom_objects)
    if isinstance(value, dict):
        return {k: _deserialize_nested(v, fn, custom_objects) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deserialize_nested(v, fn, custom_objects) for v in value]
    return value


def _loss_from(config, custom_objects):
    from graphkeras import losses as losses_mod
    return losses_mod.deserialize(config, custom_objects=custom_objects)


def _metric_from(config, custom_objects):
    from graphkeras import metrics as metrics_mod
    if isinstance(config, str) and config in _STRING_METRICS:
        return config  # resolved from the shapes once the model sees data, as tf.keras
    return metrics_mod.deserialize(config, custom_objects=custom_objects)


def _compile_metrics(value, custom_objects, n_outputs):
    """tf.keras saves metrics as one list per output (``[[m1, m2], [None]]``); give
    ``compile`` the form it takes for this model."""
    value = _deserialize_nested(value, _metric_from, custom_objects)
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        nested = bool(value) and all(isinstance(v, list) or v is None for v in value)
        if nested:
            rows = [_drop_none(v) for v in value]
            if n_outputs == 1 or len(rows) == 1:
                return [m for row in rows for m in row]
            return rows
        return _drop_none(value)
    return value


def _strip_output_prefixes(spec, output_names):
    from graphkeras import metrics as metrics_mod
    if isinstance(spec, dict):
        rows = [(name, spec.get(name)) for name in output_names]
    elif isinstance(spec, list) and len(spec) == len(output_names) and \
            all(isinstance(r, list) for r in spec):
        rows = list(zip(output_names, spec))
    else:
        return
    for name, row in rows:
        for metric in row if isinstance(row, list) else [row]:
            if isinstance(metric, metrics_mod.Metric) and metric.name.startswith(f"{name}_"):
                metric._name = metric.name[len(name) + 1:]


def _drop_none(value):
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return value


# ---------------------------------------------------------------- optimizer state
def optimizer_state(model) -> list:
    """``[(name, array)]`` of the optimizer's variables, in tf.keras' order and with its
    names (``iteration:0``, ``Adam/m/dense/kernel:0`` ...). Empty without an optimizer.
    With one optimizer per sub-model, the names get a ``"<index>/"`` prefix."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    if isinstance(optimizer, (list, tuple)):
        return [(f"{i}/{v.name}", np.array(v.numpy())) for i, o in enumerate(optimizer)
                for v in o.variables]
    return [(v.name, np.array(v.numpy())) for v in optimizer.variables]


def restore_optimizer_state(model, named_arrays):
    """Build the optimizer on ``model.trainable_variables``, then set its variables from
    ``[(name, array)]``: by name when every variable is found; from tf.keras' legacy
    (pre-2.11) names mapped to the current ones; otherwise in order, pairwise up to the
    shorter list, as tf.keras' ``set_weights`` does (a compiled but untrained model's file
    holds only ``iteration:0``). Arrays may be lazy (h5py datasets): each is read only
    after every shape was checked. Raises ValueError, with nothing assigned, when the state
    does not fit the optimizer."""
    optimizer = model.optimizer
    if optimizer is None:
        raise ValueError("The model has no optimizer to restore a state into; compile it first.")
    named_arrays = [(str(n), a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a))
                    for n, a in named_arrays]
    if isinstance(optimizer, (list, tuple)):
        groups = {}
        for name, array in named_arrays:
            index, _, rest = name.partition("/")
            groups.setdefault(index, []).append((rest, array))
        if len(groups) != len(optimizer):
            raise ValueError(f"The saved optimizer state is for {len(groups)} optimizers; the "
                             f"model has {len(optimizer)}.")
        plans = []
        for i, opt in enumerate(optimizer):
            opt.build(_sub_model_variables(model, i))
            plans.append(_match(opt, groups.get(str(i), [])))
        for plan in plans:
            _assign(plan)
        return
    optimizer.build(model.trainable_variables)
    _assign(_match(optimizer, named_arrays))


def _sub_model_variables(model, index):
    sub = getattr(model, "linear_model" if index == 0 else "dnn_model", None)
    return sub.trainable_variables if sub is not None else model.trainable_variables


def _legacy_to_current(name, optimizer_class, optimizer_name=None):
    """A legacy optimizer variable's name under the current optimizers' naming:
    ``Adam/dense/kernel/m:0`` -> ``Adam/m/dense/kernel:0``, ``Adam/iter:0`` ->
    ``iteration:0`` (TF 2.0-2.3 files prefix them with ``training/``)."""
    base = name[:-2] if name.endswith(":0") else name
    parts = base.split("/")
    if parts and parts[0] == "training":
        parts = parts[1:]
    if len(parts) == 2 and parts[1] == "iter":
        return "iteration:0"
    if len(parts) < 3:
        return name
    slot = _LEGACY_SLOTS.get(optimizer_class, {}).get(parts[-1])
    if slot is None:
        return name
    return "/".join([optimizer_name or parts[0], slot] + parts[1:-1]) + ":0"


def _shape(value):
    return tuple(value.shape)


def _match(optimizer, named_arrays):
    variables = list(optimizer.variables)
    names = [v.name for v in variables]
    by_name = dict(named_arrays)
    if len(by_name) == len(named_arrays) and all(n in by_name for n in names):
        pairs = [(v, by_name[v.name]) for v in variables]
    elif any(n.endswith("/iter:0") for n, _ in named_arrays):
        # a legacy (pre-2.11) optimizer's state: its slots under their current names.
        # Slots it did not have (SGD without momentum) stay as initialized; its non-slot
        # extras (Nadam's momentum_cache) are dropped.
        kind = type(optimizer).__name__
        mapped = {_legacy_to_current(n, kind, optimizer.name): a for n, a in named_arrays}
        pairs = [(v, mapped[v.name]) for v in variables if v.name in mapped]
        known = set(names)
        unmapped = [n for n in mapped if n not in known and not n.endswith("momentum_cache:0")]
        if unmapped or "iteration:0" not in mapped:
            raise ValueError(f"The saved (legacy) optimizer state has variables {unmapped} that "
                             f"{kind} does not have.")
    else:
        # other names (tf.keras names a reloaded model's slots without the optimizer's
        # name, "m/dense/kernel:0"): in order, as tf.keras' set_weights
        pairs = [(v, a) for v, (_, a) in zip(variables, named_arrays)]
    for variable, value in pairs:
        if tuple(variable.shape) != _shape(value):
            raise ValueError(f"Optimizer variable {variable.name} has shape "
                             f"{tuple(variable.shape)} not compatible with provided weight "
                             f"shape {_shape(value)}.")
    return pairs


def _assign(plan):
    values = [(variable, np.asarray(value[()] if hasattr(value, "id") else value))
              for variable, value in plan]
    for variable, value in values:
        variable.assign(value.astype(variable.dtype, copy=False))
