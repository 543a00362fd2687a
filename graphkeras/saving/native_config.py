"""``config.json`` of a native save: the model's config, and the model rebuilt from it.

Functional and Sequential models use tf.keras' schema. A subclassed model stores its
traced IR (``class_name`` ``"TracedModel"``, see :mod:`graphkeras.models.traced`)
plus ``original_class``: the class name, module, registered name and (when the class
overrides ``get_config``) its config, and how the model takes its inputs. At load
time a class found through ``custom_objects``, the registry
(``register_keras_serializable``) or an already imported module gives the model back
as that class; otherwise it comes back as a ``TracedModel`` that predicts and trains
from the IR alone. Nothing is imported and no code from the file runs.
"""
from __future__ import annotations

import json
import logging
import sys

from graphkeras.saving.container import CONFIG, WEIGHTS
from graphkeras.saving.rebuild import traced_weight_bytes, weights_from_file
from graphkeras.saving.state import H5_OVERHEAD, check_sizes

logger = logging.getLogger("graphkeras.saving.native")


# ======================================================================== saving
def model_config(model) -> dict:
    from graphkeras.models.serialization import model_to_dict
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




# ======================================================================== loading
def rebuild_model(config, custom_objects, weights_file, datasets, where, assign):
    """The model ``config`` describes, with its weights set by ``assign(model)`` (which
    reads ``datasets`` of ``weights_file`` into it)."""
    from graphkeras.engine.training import Model
    from graphkeras.models.serialization import model_from_config
    # every weight comes from the file: layers skip their initializers, and may not
    # declare more bytes of weights than the file holds
    budget = weights_file._gk_size + H5_OVERHEAD
    if config["class_name"] != "TracedModel":
        check_sizes(weights_file, datasets, where, WEIGHTS)
        with weights_from_file(budget, where):
            model = model_from_config(config, custom_objects)
            if not isinstance(model, Model):
                raise ValueError(f"{where}: {CONFIG} describes a {type(model).__name__} layer, "
                                 "not a model.")
            assign(model)
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
                assign(model)
        if model is not None:
            return model
    from graphkeras.models.traced import TracedModel
    model = TracedModel.from_config(inner)
    model._original_class_info = {k: info.get(k) for k in ("class_name", "module", "qualname",
                                                            "registered_name", "config",
                                                            "input_structure")}
    if not model._original_class_info.get("class_name"):
        model._original_class_info["class_name"] = inner.get("original_class") or "TracedModel"
    assign(model)
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
