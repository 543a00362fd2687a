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


def model_from_config(config, custom_objects=None):
    from graphkeras.engine.functional import deserialize_layer
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("`model_from_config` expects a dict with 'class_name' and 'config'. "
                         f"Received: {type(config).__name__}")
    if config["class_name"] == "TracedModel":
        from graphkeras.models.traced import TracedModel
        return TracedModel.from_config(config["config"])
    return deserialize_layer(config, custom_objects)


def model_from_json(json_string, custom_objects=None):
    """A model from ``to_json()`` output (tf.keras 2.x's or graphkeras')."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as err:
        raise ValueError(f"model_from_json: the string is not valid JSON ({err}).") from None
    return model_from_config(config, custom_objects)
