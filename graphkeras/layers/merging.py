"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum,
Dot, and their functional forms (``add``, ``concatenate``, ``dot`` ...).

Each layer takes a LIST of tensors as its single input (``layer([a, b])``).
Shapes are checked when the layer is built, with tf.keras' rules and messages:
elementwise merges broadcast the non-batch dimensions right-aligned (an input
of lower rank gets size-1 axes inserted after the batch axis), batch sizes must
agree, Concatenate needs equal shapes except on its axis, and Dot contracts one
axis of each input per sample (``batch_dot``).
"""
from __future__ import annotations

import functools

import numpy as np

from graphkeras.compiler import ops
from graphkeras.engine.base_layer import Layer
from graphkeras.layers.core import register


def _is_shape_list(input_shape):
    """True for a non-empty list/tuple of shapes; False for one shape (a tuple of dims)."""
    return isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and \
        all(isinstance(s, (list, tuple)) for s in input_shape)


def _fmt_shapes(input_shape):
    if _is_shape_list(input_shape):
        return str([tuple(s) for s in input_shape])
    return str(tuple(input_shape)) if isinstance(input_shape, (list, tuple)) else str(input_shape)


def _all_true_like(x):
    """A bool tensor of ``x``'s shape, all True (works on symbolic shapes too)."""
    if x.dtype not in ("float16", "float32", "float64"):
        x = ops.cast(x, "float32")
    nan = ops.isnan(x)
    return ops.logical_or(nan, ops.logical_not(nan))


def _check_mask_list(inputs, mask, received="Received:"):
    """tf.keras' checks that ``inputs`` and ``mask`` are lists of the same length."""
    if not isinstance(mask, (tuple, list)):
        raise ValueError(f"`mask` should be a list. {received} mask={mask}")
    if not isinstance(inputs, (tuple, list)):
        raise ValueError(f"`inputs` should be a list. Received: inputs={inputs}")
    if len(mask) != len(inputs):
        raise ValueError("The lists `inputs` and `mask` should have the same length. "
                         f"Received: inputs={inputs} of length {len(inputs)}, and "
                         f"mask={mask} of length {len(mask)}")


class _Merge(Layer):
    """Base of the elementwise merge layers (tf.keras ``_Merge``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _merge_function(self, inputs):
        raise NotImplementedError  # abstract: each merge layer defines its reduction

    @staticmethod
    def _compute_elemwise_op_output_shape(shape1, shape2):
        """Right-aligned broadcasting of two shapes without their batch dimension."""
        shape1, shape2 = tuple(shape1), tuple(shape2)
        if len(shape1) < len(shape2):
            return _Merge._compute_elemwise_op_output_shape(shape2, shape1)
        if not shape2:
            return shape1
        out = list(shape1[:-len(shape2)])
        for i, j in zip(shape1[-len(shape2):], shape2):
            if i is None or j is None:
                out.append(None)
            elif i == 1:
                out.append(j)
            elif j == 1 or i == j:
                out.append(i)
            else:
                raise ValueError("Inputs have incompatible shapes. "
                                 f"Received shapes {shape1} and {shape2}")
        return tuple(out)

    def build(self, input_shape):
        if not _is_shape_list(input_shape):
            raise ValueError("A merge layer should be called on a list of inputs. "
                             f"Received: input_shape={_fmt_shapes(input_shape)} "
                             "(not a list of shapes)")
        shapes = [tuple(s) for s in input_shape]
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError("Cannot merge tensors with different batch sizes. "
                             f"Got tensors with shapes {shapes}")
        output_shape = shapes[0][1:]
        for shape in shapes[1:]:  # raises on shapes that do not broadcast
            output_shape = self._compute_elemwise_op_output_shape(output_shape, shape[1:])
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("A merge layer should be called on a list of inputs. "
                             f"Received: inputs={inputs} (not a list of tensors)")
        inputs = list(inputs)
        ranks = [len(x.shape) for x in inputs]
        if len(set(ranks)) > 1:
            # give lower-rank inputs size-1 axes right after the batch axis, so the
            # non-batch dimensions broadcast right-aligned and the batch axes line up
            top = max(ranks)
            inputs = [x if r == top else ops.expand_dims(x, tuple(range(1, 1 + top - r)))
                      for x, r in zip(inputs, ranks)]
        return self._merge_function(inputs)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        _check_mask_list(inputs, mask)
        masks = [m for m in mask if m is not None]
        if not masks:
            return None
        out = ops.cast(masks[0], "bool")
        for m in masks[1:]:
            out = ops.logical_and(out, ops.cast(m, "bool"))
        return out


@register
class Add(_Merge):
    """Sum of a list of inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(ops.add, inputs)


@register
class Subtract(_Merge):
    """``inputs[0] - inputs[1]``: exactly two inputs."""

    def build(self, input_shape):
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: input_shape={_fmt_shapes(input_shape)}")

    def _merge_function(self, inputs):
        if len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs}")
        return ops.subtract(inputs[0], inputs[1])


@register
class Multiply(_Merge):
    """Elementwise product of a list of inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(ops.multiply, inputs)


@register
class Average(_Merge):
    """Elementwise mean of a list of inputs."""

    def _merge_function(self, inputs):
        out = functools.reduce(ops.add, inputs)
        return ops.divide(out, np.asarray(len(inputs), dtype=out.dtype))


@register
class Maximum(_Merge):
    """Elementwise maximum of a list of inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(ops.maximum, inputs)


@register
class Minimum(_Merge):
    """Elementwise minimum of a list of inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(ops.minimum, inputs)


@register
class Concatenate(_Merge):
    """Concatenation of a list of inputs along ``axis``."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def build(self, input_shape):
        if not _is_shape_list(input_shape):
            raise ValueError("A `Concatenate` layer should be called on a list of at least 1 "
                             f"input. Received: input_shape={_fmt_shapes(input_shape)}")
        shapes = [tuple(s) for s in input_shape]
        err_msg = ("A `Concatenate` layer requires inputs with matching shapes except for "
                   f"the concatenation axis. Received: input_shape={shapes}")
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(err_msg)
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(f"Invalid `axis` argument for a `Concatenate` layer: axis={self.axis} "
                             f"is out of range for inputs of rank {rank}. "
                             f"Received: input_shape={shapes}")
        axis = self.axis % rank
        for i in range(rank):
            if i == axis:
                continue
            dims = {s[i] for s in shapes if s[i] is not None}
            if len(dims) > 1:
                raise ValueError(err_msg)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("A `Concatenate` layer should be called on a list of inputs. "
                             f"Received: inputs={inputs} (not a list of tensors)")
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        _check_mask_list(inputs, mask, received="Received")  # tf.keras' wording here
        if all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                masks.append(_all_true_like(x))  # an input without a mask: all valid
            elif len(m.shape) < len(x.shape):
                masks.append(ops.expand_dims(ops.cast(m, "bool"), -1))
            else:
                masks.append(ops.cast(m, "bool"))
        joined = ops.cast(ops.concatenate(masks, axis=self.axis), "float32")
        return ops.cast(ops.min(joined, axis=-1), "bool")  # "all" over the last axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis):
    """``x / sqrt(max(sum(x**2, axis), 1e-12))`` (tf.math.l2_normalize)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    eps = np.asarray(1e-12, dtype=x.dtype)
    return ops.multiply(x, ops.rsqrt(ops.maximum(square_sum, eps)))


def _identity_or_transpose(x, perm):
    return x if list(perm) == list(range(len(perm))) else ops.transpose(x, perm)


def _prod_or_unknown(dims):
    if any(d is None for d in dims):
        return -1
    return int(np.prod(dims, dtype=np.int64)) if dims else 1


def batch_dot(x, y, axes):
    """Per-sample dot product contracting ``x``'s axis ``axes[0]`` with ``y``'s
    ``axes[1]`` (both non-batch). Result: ``x``'s other axes then ``y``'s other
    non-batch axes; a rank-1 result gets a trailing axis of size 1."""
    xs, ys = tuple(x.shape), tuple(y.shape)
    if len(xs) < 2 or len(ys) < 2:
        raise ValueError("Cannot do batch_dot on inputs with rank < 2. "
                         f"Received inputs with shapes {xs} and {ys}.")
    a0, a1 = axes
    if a0 == 0 or a1 == 0:
        raise ValueError("Cannot perform batch_dot over axis 0. If your inputs are not batched, "
                         "add a dummy batch dimension to your inputs using "
                         "gk.ops.expand_dims(x, 0)")
    x_rest = [i for i in range(1, len(xs)) if i != a0]
    y_rest = [i for i in range(1, len(ys)) if i != a1]
    xt = _identity_or_transpose(x, [0] + x_rest + [a0])      # (N, *xr, k)
    yt = _identity_or_transpose(y, [0, a1] + y_rest)         # (N, k, *yr)
    xr, yr = [xs[i] for i in x_rest], [ys[i] for i in y_rest]
    if not yr:
        yt = ops.expand_dims(yt, -1)                           # (N, k, 1)
    elif len(yr) > 1:
        k = ys[a1] if ys[a1] is not None else xs[a0]
        yt = ops.reshape(yt, (None, -1 if k is None else k, _prod_or_unknown(yr)))
    if not xr:
        xt = ops.expand_dims(xt, 1)                            # (N, 1, k)
    for _ in range(max(len(xr), 1) - 1):
        yt = ops.expand_dims(yt, 1)                            # batch-broadcast over x's axes
    out = ops.matmul(xt, yt)                                   # (N, *xr or 1, prod(yr) or 1)
    if not xr:
        out = ops.squeeze(out, 1)
    if not yr:
        out = ops.squeeze(out, -1)
    elif len(yr) > 1:
        target = [None] + xr + yr
        unknown = [i for i, d in enumerate(target) if d is None and i > 0]
        if len(unknown) > 1:
            raise ValueError("Dot: cannot restore an output shape with several unknown "
                             f"dimensions {tuple(target)}; give the inputs static shapes.")
        out = ops.reshape(out, [(-1 if (d is None and i > 0) else d) for i, d in enumerate(target)])
    if len(out.shape) == 1:
        out = ops.expand_dims(out, 1)
    return out


@register
class Dot(_Merge):
    """Per-sample dot product of two inputs along ``axes`` (cosine similarity
    with ``normalize=True``)."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError("Invalid type for argument `axes`: it should be a list or an int. "
                                f"Received: axes={axes}")
            if len(axes) != 2:
                raise ValueError("Invalid format for argument `axes`: it should contain two "
                                 f"elements. Received: axes={axes}")
            if not isinstance(axes[0], int) or not isinstance(axes[1], int):
                raise ValueError("Invalid format for argument `axes`: list elements should be "
                                 f"integers. Received: axes={axes}")
        self.axes = axes
        self.normalize = normalize
        self.supports_masking = True

    def _resolve_axes(self, rank1, rank2):
        if isinstance(self.axes, int):
            if self.axes < 0:
                return [self.axes % rank1, self.axes % rank2]
            return [self.axes] * 2
        return [a % r if a < 0 else a for a, r in zip(self.axes, (rank1, rank2))]

    def build(self, input_shape):
        if not _is_shape_list(input_shape) or len(input_shape) != 2:
            raise ValueError("A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={_fmt_shapes(input_shape)}")
        shape1, shape2 = tuple(input_shape[0]), tuple(input_shape[1])
        axes = self._resolve_axes(len(shape1), len(shape2))
        for a, s in zip(axes, (shape1, shape2)):
            if not 0 <= a < len(s):
                raise ValueError(f"Invalid `axes` for a `Dot` layer: axis {a} is out of range "
                                 f"for an input of shape {s}. Received: axes={self.axes}")
        if shape1[axes[0]] != shape2[axes[1]]:
            raise ValueError(f"Incompatible input shapes: axis values {shape1[axes[0]]} (at axis "
                             f"{axes[0]}) != {shape2[axes[1]]} (at axis {axes[1]}). "
                             f"Full input shapes: {shape1}, {shape2}")
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Dot` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs}")
        x1, x2 = inputs
        axes = self._resolve_axes(len(x1.shape), len(x2.shape))
        if self.normalize:
            x1 = _l2_normalize(x1, axes[0])
            x2 = _l2_normalize(x2, axes[1])
        return batch_dot(x1, x2, axes)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


# ---------------------------------------------------------------- functional forms
def add(inputs, **kwargs):
    """Functional interface to the ``Add`` layer."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional interface to the ``Subtract`` layer."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional interface to the ``Multiply`` layer."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional interface to the ``Average`` layer."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional interface to the ``Maximum`` layer."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional interface to the ``Minimum`` layer."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional interface to the ``Concatenate`` layer."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    """Functional interface to the ``Dot`` layer."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
