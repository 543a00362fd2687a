"""Name registries and tf.keras-style ``{"class_name", "config"}`` (de)serialization.

Nothing here evaluates code from a file: classes are found by name among
graphkeras' own, those registered with :func:`register_keras_serializable`,
and those passed as ``custom_objects``.
"""
from __future__ import annotations

import threading

_REGISTRY: dict[str, dict[str, object]] = {}
_custom = threading.local()


def register(kind: str, *names):
    """Decorator: make a class or function findable by these names."""
    def wrap(obj):
        table = _REGISTRY.setdefault(kind, {})
        for n in names or (obj.__name__,):
            table[n] = obj
        return obj
    return wrap


def register_keras_serializable(package="Custom", name=None):
    def wrap(obj):
        key = f"{package}>{name or obj.__name__}"
        _REGISTRY.setdefault("custom", {})[key] = obj
        _REGISTRY["custom"][name or obj.__name__] = obj
        obj._registered_name = key
        return obj
    return wrap


class custom_object_scope:
    def __init__(self, *objects):
        self.objects = {}
        for o in objects:
            self.objects.update(o or {})

    def __enter__(self):
        stack = getattr(_custom, "stack", [])
        stack.append(self.objects)
        _custom.stack = stack
        return self

    def __exit__(self, *exc):
        _custom.stack.pop()


def lookup(kind: str, name: str, custom_objects=None):
    for table in (custom_objects or {},
                  *reversed(getattr(_custom, "stack", [])),
                  _REGISTRY.get("custom", {}),
                  _REGISTRY.get(kind, {})):
        if name in table:
            return table[name]
    return None


def serialize(obj, module: str) -> dict | str | None:
    if obj is None:
        return None
    config = obj.get_config() if hasattr(obj, "get_config") else None
    name = getattr(obj, "_registered_name", None)
    return {"module": module if name is None else None, "class_name": type(obj).__name__,
            "config": config, "registered_name": name}


def deserialize(kind: str, spec, custom_objects=None, what="object"):
    """Rebuild an object from ``{"class_name", "config"}`` or a name string."""
    if spec is None:
        return None
    if isinstance(spec, str):
        obj = lookup(kind, spec, custom_objects)
        if obj is None:
            raise ValueError(f"Unknown {what}: {spec!r}. Please ensure it is registered with "
                             "gk.utils.register_keras_serializable or passed in custom_objects.")
        return obj() if isinstance(obj, type) else obj
    if isinstance(spec, dict):
        name = spec.get("registered_name") or spec["class_name"]
        cls = lookup(kind, name, custom_objects) or lookup(kind, spec["class_name"], custom_objects)
        if cls is None:
            raise ValueError(f"Unknown {what}: {spec['class_name']!r}. Please ensure it is "
                             "registered with gk.utils.register_keras_serializable or passed "
                             "in custom_objects.")
        config = spec.get("config") or {}
        if hasattr(cls, "from_config"):
            return cls.from_config(config)
        return cls(**config) if isinstance(cls, type) else cls
    return spec
