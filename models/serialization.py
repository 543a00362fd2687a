"""Model JSON in tf.keras' schema: ``to_json`` / ``model_from_json``."""
from __future__ import annotations

import json

KERAS_VERSION = "2.15.0"


def model_to_dict(model) -> dict:
    from graphkeras.engine.functional import Functional
    from graphkeras.engine.sequential import Sequential
    if isinstance(model, Sequential):
        class_name = "Sequential"
    elif isinstance(model, Functional) or getattr(model, "_replay", None) is not None:
        class_name = "Functional"
    else:
        from graphkeras.models.traced import traced_model_config
        return traced_model_config(model)
    return {"class_name": class_name, "config": model.get_config(),
            "keras_version": KERAS_VERSION, "backend": "tensorflow"}


# what a malformed config makes the builders raise, besides ValueError; model_from_config
# reports these as a ValueError saying so
_MALFORMED = (KeyError, TypeError, IndexError, AttributeError, RecursionError,
              NotImplementedError, OverflowError)


def model_from_config(config, custom_objects=None):
    """A model (or layer) from ``{"class_name", "config"}``. Classes are found by name
    (graphkeras', registered ones, ``custom_objects``); nothing from the config is
    executed. A malformed config raises ``ValueError``, and one declaring more weights
    than this machine's memory is refused before they are allocated."""
    from graphkeras.engine.functional import deserialize_layer
    from graphkeras.saving import rebuild
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("`model_from_config` expects a dict with 'class_name' and 'config'. "
                         f"Received: {type(config).__name__}")
    try:
        with rebuild.bounded_weights("model_from_config"):
            if config["class_name"] == "TracedModel":
                from graphkeras.models.traced import TracedModel
                inner = config.get("config")
                specs = inner.get("weights") if isinstance(inner, dict) else None
                where = "model_from_config: the traced model config"
                if rebuild.traced_weight_bytes(specs, where) > rebuild.machine_memory():
                    raise ValueError(f"{where} declares more weights than this machine's "
                                     "memory; refusing to build it.")
                return TracedModel.from_config(inner)
            return deserialize_layer(config, custom_objects)
    except (UnicodeError, *_MALFORMED) as err:  # UnicodeError: a ValueError, but an unclear one
        raise ValueError(f"Cannot build a model from this config: it is malformed "
                         f"({type(err).__name__}: {err}).") from err


def model_from_json(json_string, custom_objects=None):
    """A model from ``to_json()`` output (tf.keras 2.x's or graphkeras')."""
    try:
        config = json.loads(json_string)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"model_from_json: the string is not valid JSON ({type(err).__name__}: "
                         f"{err}).") from None
    return model_from_config(config, custom_objects)
