"""Process-wide state of the user API: layer-name counters, the random
generator behind initializers and shuffling, and the shared device state."""
from __future__ import annotations

import collections
import re

import numpy as np

from graphkeras.runtime import DeviceState, get_providers
from graphkeras.runtime.providers import device_of

_name_counts: collections.Counter = collections.Counter()
_rng = np.random.default_rng()
_device_states: dict[str, DeviceState] = {}


def floatx() -> str:
    return "float32"


def epsilon() -> float:
    return 1e-7


def unique_name(base: str, zero_based: bool = True) -> str:
    """``dense``, then ``dense_1``, ``dense_2`` ... as tf.keras names layers
    (inputs count from one: ``input_1``, ``input_2``)."""
    count = _name_counts[base]
    _name_counts[base] += 1
    if zero_based:
        return base if count == 0 else f"{base}_{count}"
    return f"{base}_{count + 1}"


def observe_name(name: str) -> None:
    """Count an explicitly chosen name so automatic ones do not collide later."""
    _name_counts[name] = max(_name_counts[name], 1)


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s if not s.startswith("_") else "private" + s


def clear_session() -> None:
    """Reset layer-name counters (as ``tf.keras.backend.clear_session``)."""
    _name_counts.clear()


def set_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    return _rng


def device_state() -> DeviceState:
    """The state store for the device of the current execution providers."""
    device = device_of(get_providers())
    state = _device_states.get(device)
    if state is None:
        state = _device_states[device] = DeviceState(device)
    return state
