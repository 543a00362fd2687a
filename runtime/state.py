"""Device-resident state: weights, optimizer slots, metric accumulators, step
counters, held as OrtValues and shared by every executor of a process.

Each key has a :class:`Slot`. A slot normally holds one buffer. A training step
executor that updates a key *owns* its slot and gives it a second buffer: its
step reads one buffer and writes the other, and flipping the executor's parity
makes the written one current — so a step moves no state and the bookkeeping
per step is O(1), not O(number of weights).
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort


class Slot:
    __slots__ = ("buffers", "owner", "base", "writes")

    def __init__(self, value: ort.OrtValue):
        self.buffers = [value]
        self.owner = None  # a step executor with a `parity` and a `steps` count
        self.base = 0  # the owner's step count when it took the slot
        self.writes = 0  # writes counted so far (host writes and finished ownerships)

    @property
    def current(self) -> ort.OrtValue:
        owner = self.owner
        return self.buffers[owner.parity] if owner is not None else self.buffers[0]

    @property
    def revision(self) -> int:
        owner = self.owner
        return self.writes + (owner.steps - self.base if owner is not None else 0)


class DeviceState:
    """Named state on one device.

    ``version`` changes when a key's buffers are created, replaced or removed
    (executors that bound them must rebind); ``revision`` changes on every
    write, host or device (so readers know their copies may be old).
    """

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.slots: dict[str, Slot] = {}
        self.version = 0
        self.revision = 0

    def __contains__(self, key):
        return key in self.slots

    def value(self, key: str) -> ort.OrtValue:
        return self.slots[key].current

    def revision_of(self, key: str) -> int:
        return self.slots[key].revision

    def set(self, key: str, array) -> None:
        """Write ``array`` into the key's current buffer (or create the key)."""
        array = np.asarray(array, order="C")
        self.revision += 1
        slot = self.slots.get(key)
        if slot is not None:
            current = slot.current
            slot.writes += 1
            if tuple(current.shape()) == array.shape and current.data_type() == _ort_type(array.dtype):
                current.update_inplace(array)  # same buffer: bound sessions see the new value
                return
            if slot.owner is not None:
                raise ValueError(f"State {key!r} changed shape while a training step owns it.")
            slot.buffers = [self._new(array)]
        else:
            self.slots[key] = Slot(self._new(array))
        self.version += 1

    def get(self, key: str) -> np.ndarray:
        return self.slots[key].current.numpy()

    def remove(self, key: str) -> None:
        if self.slots.pop(key, None) is not None:
            self.version += 1
            self.revision += 1

    def _new(self, array) -> ort.OrtValue:
        # a CPU OrtValue wraps the numpy buffer it is made from: give it its own copy
        return ort.OrtValue.ortvalue_from_numpy(np.array(array, order="C", copy=True), self.device, 0)

    # ownership by step executors -------------------------------------
    def own(self, keys, owner) -> None:
        """Give ``owner`` the keys it writes: each gets a second buffer."""
        for key in keys:
            slot = self.slots[key]
            if slot.owner is owner:
                continue
            if slot.owner is not None:
                slot.owner.release([key])
            array = slot.current.numpy()
            slot.buffers = [self._new(array), self._new(array)]
            slot.owner, slot.base = owner, owner.steps
        self.version += 1
        self.revision += 1

    def disown(self, keys, owner) -> None:
        for key in keys:
            slot = self.slots.get(key)
            if slot is None or slot.owner is not owner:
                continue
            current = slot.current
            slot.writes += owner.steps - slot.base
            slot.owner = None
            slot.buffers = [current]
        self.version += 1
        self.revision += 1


_ORT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)", "int64": "tensor(int64)",
              "int32": "tensor(int32)", "bool": "tensor(bool)", "float16": "tensor(float16)",
              "uint8": "tensor(uint8)", "int8": "tensor(int8)"}


def _ort_type(dtype) -> str:
    return _ORT_TYPES[np.dtype(dtype).name]
