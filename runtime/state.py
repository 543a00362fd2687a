"""Device-resident state: a model's weights (and, for training, optimizer
slots and metric accumulators) held as OrtValues, shared by every executor."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort


class DeviceState:
    """Named OrtValues on one device.

    ``version`` changes when a buffer is replaced (bound executors rebind);
    ``revision`` changes on every write, and ``revisions[key]`` per value, so an
    executor that folded values into its session (frozen weights) knows to rebuild.
    """

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.values: dict[str, ort.OrtValue] = {}
        self.revisions: dict[str, int] = {}
        self.version = 0
        self.revision = 0

    def __contains__(self, key):
        return key in self.values

    def set(self, key: str, array) -> None:
        array = np.ascontiguousarray(array)
        self.revision += 1
        self.revisions[key] = self.revisions.get(key, 0) + 1
        current = self.values.get(key)
        if current is not None and tuple(current.shape()) == array.shape \
                and current.data_type() == _ort_type(array.dtype):
            current.update_inplace(array)  # same buffer: bound sessions see the new value
            return
        self.values[key] = ort.OrtValue.ortvalue_from_numpy(array, self.device, 0)
        self.version += 1

    def get(self, key: str) -> np.ndarray:
        return self.values[key].numpy()

    def remove(self, key: str) -> None:
        if self.values.pop(key, None) is not None:
            self.revisions.pop(key, None)
            self.version += 1


_ORT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)", "int64": "tensor(int64)",
              "int32": "tensor(int32)", "bool": "tensor(bool)", "float16": "tensor(float16)",
              "uint8": "tensor(uint8)", "int8": "tensor(int8)"}


def _ort_type(dtype) -> str:
    return _ORT_TYPES[np.dtype(dtype).name]
