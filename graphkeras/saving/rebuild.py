"""Building a model from a config read from a file, with bounded memory.

While :func:`weights_from_file` is active (in this thread), layers create their
weights without running their initializers — each one is overwritten from the file,
so drawing random numbers for it would be wasted work (most of a load's time for a
large model) — and the weights created in all may not exceed a byte budget derived
from the file's size: a config that declares huge layers is refused before anything
is allocated. :func:`read_into` then reads a dataset straight into a fresh
variable's buffer, allocated but not initialized, without an intermediate copy.

:func:`bounded_weights` (a config without weights: ``model_from_json``) runs the
initializers but refuses, in the same way, weights that could not fit in memory.
"""
from __future__ import annotations

import contextlib
import math
import os

import numpy as np


class _Unread:
    """A weight's placeholder value: an array of the weight's shape, not initialized
    (``np.empty``: no pass over memory that the saved values will overwrite).
    ``Variable`` converts it with ``np.array``, which under NumPy 2 takes
    ``__array__(copy=True)``'s array as is, so this array is the variable's buffer,
    filled by :func:`read_into`; its scope zeroes every one that was not filled."""

    __slots__ = ("shape", "dtype", "scope")

    def __init__(self, shape, dtype, scope):
        self.shape, self.dtype, self.scope = shape, dtype, scope

    def __array__(self, dtype=None, copy=None):
        dtype = self.dtype if dtype is None else dtype
        if copy is not True:  # the caller may copy it: only zeros are safe to hand out
            return np.zeros(self.shape, dtype)
        array = np.empty(self.shape, dtype)
        self.scope.made.append(array)
        return array


class _Scope:
    def __init__(self):
        self.made = []      # the placeholder arrays handed out
        self.filled = set()  # ids of those read_into filled


@contextlib.contextmanager
def _weight_hook(budget_bytes, limit, where, make):
    """Route ``Layer.add_weight``'s values through ``make(shape, dtype, init)`` after
    charging their bytes to ``budget_bytes`` (``limit`` says what bounds it); a scope
    already active is kept."""
    from graphkeras.engine import base_layer
    context = base_layer._context
    previous = getattr(context, "make_weight", None)
    if previous is not None:
        yield
        return
    used = 0

    def make_weight(shape, dtype, init):
        nonlocal used
        if any(d < 0 for d in shape):
            raise ValueError(f"{where}: the model config gives a weight the invalid shape "
                             f"{tuple(shape)}.")
        try:
            itemsize = np.dtype(dtype).itemsize
        except (TypeError, ValueError):  # ValueError: UnicodeError, from lone surrogates
            raise ValueError(f"{where}: the model config gives a weight the invalid dtype "
                             f"{dtype!r}.") from None
        used += math.prod(shape) * itemsize
        if used > budget_bytes:
            raise ValueError(f"{where}: the model config declares more than {budget_bytes} "
                             f"bytes of weights, more than {limit}; refusing to build it "
                             "(is it corrupt?).")
        return make(shape, dtype, init)

    context.make_weight = make_weight
    try:
        yield
    finally:
        context.make_weight = previous


def _initialized(shape, dtype, init):
    return init(shape, dtype=dtype)


@contextlib.contextmanager
def weights_from_file(budget_bytes: int, where: str):
    """Layers built in this block skip their initializers (every weight will be read
    from the file) and may not declare more than ``budget_bytes`` of weights. Read the
    weights (:func:`read_into`) inside the block: when it ends, a weight that was not
    read is set to zeros, never left uninitialized."""
    from graphkeras.engine import base_layer
    context = base_layer._context
    if getattr(context, "make_weight", None) is not None:  # a scope already active is kept
        yield
        return
    scope = _Scope()

    def placeholder(shape, dtype, init):
        return _Unread(tuple(shape), dtype, scope)

    with _weight_hook(budget_bytes, "what the file can hold", where, placeholder):
        context.weights_scope = scope
        try:
            yield
        finally:
            context.weights_scope = None
    for array in scope.made:  # (after an error the model is discarded: nothing to do)
        if id(array) not in scope.filled:
            array.fill(0)


def machine_memory() -> int:
    """Bytes of physical memory (a very large number where that is not known)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return 2**62


def bounded_weights(where: str):
    """Layers built in this block are initialized as usual, but may not declare more
    weights than this machine has memory."""
    return _weight_hook(machine_memory(), "this machine's memory", where, _initialized)


def traced_weight_bytes(specs, where) -> int:
    """The bytes of weights a traced model's config declares (``[{"shape", "dtype"}]``),
    each spec checked (``ValueError`` naming ``where`` otherwise)."""
    from graphkeras.compiler.ir import canonical_dtype
    if not isinstance(specs, list):
        raise ValueError(f"{where} declares no list of weights.")
    declared = 0
    for spec in specs:
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if not isinstance(shape, list) or len(shape) > 32 or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape):
            raise ValueError(f"{where} declares an invalid weight shape {shape!r}.")
        try:
            itemsize = np.dtype(canonical_dtype(spec.get("dtype"))).itemsize
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} declares an invalid weight dtype: {err}") from None
        declared += math.prod(shape) * itemsize
    return declared


def read_into(variable, dataset, check=None, read=None) -> None:
    """Set ``variable`` (of a model just rebuilt, that no compiled graph holds yet)
    to ``dataset``'s content, whose shape was checked. The dataset is read straight
    into the variable's own host buffer when its dtype matches; otherwise it is read
    and assigned. ``check(dataset, array)`` sees the array as read, in the file's
    dtype, before it is used (it raises on damage); ``read(dataset, buffer)``, when
    given, reads and checks in one go (:func:`.checked.read_verified`)."""
    host = getattr(variable, "_host", None)
    if getattr(variable, "_device", True) is None and isinstance(host, np.ndarray) and \
            host.dtype == dataset.dtype and host.shape == tuple(dataset.shape) and \
            host.flags.c_contiguous and host.flags.writeable and host.size:
        if read is not None:
            read(dataset, host)
        else:
            dataset.read_direct(host)
            if check is not None:
                check(dataset, host)
        from graphkeras.engine import base_layer
        scope = getattr(base_layer._context, "weights_scope", None)
        if scope is not None:  # a placeholder of weights_from_file, now filled
            scope.filled.add(id(host))
        return
    value = np.asarray(dataset[()])
    if check is not None:
        check(dataset, value)
    variable.assign(value if value.dtype == np.dtype(variable.dtype)
                    else value.astype(variable.dtype))
