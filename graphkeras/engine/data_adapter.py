"""Turning what users pass to ``predict``/``fit``/``evaluate`` into batches.

Who owns what: this module owns the data types (arrays, array-likes such as
pandas, lists and dicts of them, generators, ``gk.utils.Sequence``), batching
and validation of shapes and dtypes against the model's inputs. The model
owns steps, epochs and callbacks.
"""
from __future__ import annotations

import math

import numpy as np

from graphkeras.compiler.ir import canonical_dtype


def is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def to_array(x, name="x"):
    if hasattr(x, "to_numpy"):  # pandas
        x = x.to_numpy()
    array = np.asarray(x)
    if array.dtype == object or array.dtype.kind in "USV":
        raise ValueError(f"Failed to convert {name} to a numeric array: its dtype is "
                         f"{array.dtype}. Convert it to a number array (e.g. float32) first.")
    return array


def flatten_inputs(x, input_names: list[str]):
    """Data for the model's inputs, in input order, as arrays."""
    if is_namedtuple(x):
        raise ValueError("A namedtuple was passed as model data; graphkeras cannot tell whether it "
                         "is one input or several. Pass a tuple, a list or a dict keyed by input "
                         "name instead (e.g. `x=dict(batch._asdict())`).")
    if isinstance(x, dict):
        missing = [n for n in input_names if n not in x]
        if missing:
            raise ValueError(f"Missing data for input(s) {missing}. The model expects inputs "
                             f"named {input_names}; received keys {sorted(x)}.")
        return [to_array(x[n], n) for n in input_names]
    if isinstance(x, (list, tuple)) and len(input_names) > 1:
        if len(x) != len(input_names):
            raise ValueError(f"The model expects {len(input_names)} inputs {input_names}, but it "
                             f"received {len(x)} arrays.")
        return [to_array(a, n) for a, n in zip(x, input_names)]
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        return [to_array(x[0], input_names[0] if input_names else "x")]
    return [to_array(x, input_names[0] if input_names else "x")]


def check_and_cast(arrays, specs, model_name, many_batches=False):
    """Cast each array to its input's dtype; a shape mismatch is a ValueError
    naming the input, the expected and the received shape. ``many_batches``: the
    arrays hold several batches, so a fixed batch size is checked per batch, not here."""
    out = []
    for i, (array, (name, shape, dtype)) in enumerate(zip(arrays, specs)):
        got = array.shape
        first = 1 if many_batches else 0
        ok = len(got) == len(shape) and all(e is None or e == g for e, g in
                                            zip(shape[first:], got[first:]))
        if not ok:
            raise ValueError(
                f"Input {i} ('{name}') of model \"{model_name}\" is incompatible with the model: "
                f"input '{name}' expects shape {_fmt(shape)}, got {_fmt(got)}.")
        dtype = canonical_dtype(dtype)
        if array.dtype.name != dtype:
            if array.dtype.kind == "b" and dtype != "bool":
                array = array.astype(dtype)
            elif np.issubdtype(np.dtype(dtype), np.integer) and array.dtype.kind == "f":
                if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                    raise ValueError(f"Input '{name}' expects {dtype} values (indices); received "
                                     f"non-integer floats.")
                array = array.astype(dtype)
            else:
                array = array.astype(dtype)
        out.append(np.ascontiguousarray(array))
    return out


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def num_samples(arrays):
    sizes = {a.shape[0] if a.ndim else 1 for a in arrays}
    if len(sizes) > 1:
        raise ValueError("Data cardinality is ambiguous: the input arrays have different numbers "
                         f"of samples {sorted(sizes)}. Make sure all arrays contain the same number "
                         "of samples.")
    return sizes.pop() if sizes else 0


def array_batches(arrays, batch_size, steps=None):
    """Consecutive batches of ``batch_size`` samples (the last may be smaller)."""
    n = num_samples(arrays)
    total = math.ceil(n / batch_size)
    if steps is not None:
        total = min(total, steps)
    for i in range(total):
        yield [a[i * batch_size:(i + 1) * batch_size] for a in arrays]


def is_generator_like(x):
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")
                                      and not isinstance(x, (list, tuple, dict, np.ndarray))
                                      and not hasattr(x, "to_numpy") and not hasattr(x, "shape"))


def generator_batches(data, steps=None):
    """Batches from a Python generator/iterator or a ``gk.utils.Sequence``."""
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        total = len(data) if steps is None else min(steps, len(data))
        for i in range(total):
            yield data[i]
        if hasattr(data, "on_epoch_end"):
            data.on_epoch_end()
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            return
        yield batch
