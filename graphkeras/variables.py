"""``Variable``: a named weight whose value lives on the host and, once a
compiled graph uses it, in the device state shared by every executor."""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from graphkeras.compiler.ir import canonical_dtype

_ids = itertools.count()


class Variable:
    def __init__(self, value, name: str, trainable: bool = True, dtype=None, aggregation=None):
        dtype = canonical_dtype(dtype or getattr(value, "dtype", None) or "float32")
        self._host = np.array(value, dtype=dtype)
        self.name = name if name.endswith(":0") else f"{name}:0"
        self.trainable = trainable
        self.key = f"{self.name[:-2]}#{next(_ids)}"  # unique key in the device state
        self._device = None  # DeviceState holding this variable, once compiled code uses it
        self._seen_revision = None  # the device revision the host copy reflects
        self.regularizer = None
        self.constraint = None

    # value ----------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._host.shape

    @property
    def dtype(self) -> str:
        return self._host.dtype.name

    @property
    def path(self) -> str:
        return self.name[:-2]

    def numpy(self) -> np.ndarray:
        device = self._device
        if device is not None:
            revision = device.revision_of(self.key)
            if revision != self._seen_revision:  # compiled steps wrote it: read it back
                self._host = device.get(self.key)
                self._seen_revision = revision
        return self._host

    def value(self):
        return self.numpy()

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def assign(self, value):
        """Set the value. Inside a trace (a compiled step), the assignment becomes a
        state output of the graph instead, applied when the graph runs."""
        from graphkeras.compiler.primitive import Tensor, current_trace
        trace = value.trace if isinstance(value, Tensor) else current_trace()
        if trace is not None:
            from graphkeras.compiler import ops
            if tuple(value.shape) != tuple(self.shape) and None not in tuple(getattr(value, "shape", ())):
                raise ValueError(f"Cannot assign a value of shape {tuple(value.shape)} to variable "
                                 f"{self.name!r} of shape {self.shape}.")
            value = ops.cast(value, self.dtype) if getattr(value, "dtype", None) != self.dtype \
                else value
            if not isinstance(value, Tensor):
                value = Tensor(trace.lift(np.asarray(value, self.dtype)), trace)
            trace.assign(self, value)
            return self
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to variable "
                             f"{self.name!r} of shape {self.shape}.")
        self._host = value.astype(self.dtype, copy=True)
        if self._device is not None:
            self._device.set(self.key, self._host)
            self._seen_revision = self._device.revision_of(self.key)
        return self

    def assign_add(self, delta):
        from graphkeras.compiler import ops
        return self.assign(ops.add(self._as_operand(), delta))

    def assign_sub(self, delta):
        from graphkeras.compiler import ops
        return self.assign(ops.subtract(self._as_operand(), delta))

    # device link ----------------------------------------------------
    def place(self, state) -> str:
        """Put this variable in ``state`` (once); returns its key there."""
        if self._device is not state:
            if self._device is not None:
                self._host = self.numpy()
                self._device.remove(self.key)
            state.set(self.key, self._host)
            self._device = state
            self._seen_revision = state.revision_of(self.key)
            weakref.finalize(self, state.remove, self.key)
        return self.key

    # tracing --------------------------------------------------------
    def _trace_value(self, trace):
        return trace.param(self, self.shape, self.dtype, self.path)

    def __repr__(self):
        return (f"<gk.Variable '{self.name}' shape={self.shape} dtype={self.dtype}, "
                f"numpy={np.array2string(self.numpy(), threshold=6)}>")

    # arithmetic goes through gk.ops so it works eagerly and while tracing
    def _op(name):
        def method(self, other):
            from graphkeras.compiler import ops
            return getattr(ops, name)(self._as_operand(), other)
        return method

    def _rop(name):
        def method(self, other):
            from graphkeras.compiler import ops
            return getattr(ops, name)(other, self._as_operand())
        return method

    def _as_operand(self):
        from graphkeras.compiler.primitive import current_trace
        trace = current_trace()
        return self._trace_value(trace) if trace is not None else self.numpy()

    __add__, __radd__ = _op("add"), _rop("add")
    __sub__, __rsub__ = _op("subtract"), _rop("subtract")
    __mul__, __rmul__ = _op("multiply"), _rop("multiply")
    __truediv__, __rtruediv__ = _op("divide"), _rop("divide")
    __matmul__, __rmatmul__ = _op("matmul"), _rop("matmul")
    __pow__ = _op("power")

    def __neg__(self):
        from graphkeras.compiler import ops
        return ops.negative(self._as_operand())

    del _op, _rop
