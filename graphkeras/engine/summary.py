"""``model.summary()``: the layer table tf.keras 2.x prints, character for character.

The table has the columns ``Layer (type)``, ``Output Shape``, ``Param #``, plus
``Connected to`` for functional models whose graph is not a plain chain, and
``Trainable`` with ``show_trainable=True``. Cells too wide for their column wrap
onto following lines (preferably after ``),``, ``],``, ``},`` or ``',``); nested
models are framed with ``|`` and ``¯`` when ``expand_nested=True``.
"""
from __future__ import annotations

import math
import re
import sys

import numpy as np

from graphkeras.engine.keras_tensor import map_structure

_UNITS = ("Byte", "KB", "MB", "GB", "TB", "PB")
_BREAK_AFTER = ("),", "},", "],", "',")
_ITEMSIZE_FALLBACK = {"bfloat16": 2, "float16": 2, "float8": 1}


# ---------------------------------------------------------------- sizes
def count_params(weights) -> int:
    """Number of scalars in ``weights`` (each variable counted once)."""
    return int(sum(math.prod(w.shape) for w in _unique(weights)))


def weight_memory_size(weights) -> int:
    """Bytes taken by ``weights`` (each variable counted once), by dtype."""
    return int(sum(math.prod(w.shape) * _itemsize(w.dtype) for w in _unique(weights)))


def readable_memory_size(size) -> str:
    """``30.66 KB`` style text for a number of bytes (1024 per unit)."""
    for unit in _UNITS[:-1]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} {_UNITS[-1]}"


def _itemsize(dtype) -> int:
    name = str(getattr(dtype, "name", dtype))
    try:
        return np.dtype(name).itemsize
    except TypeError:
        return _ITEMSIZE_FALLBACK.get(name, 4)


def _unique(weights):
    seen = {}
    for w in weights:
        seen.setdefault(id(w), w)
    return list(seen.values())


# ---------------------------------------------------------------- model structure
def _is_graph_network(model) -> bool:
    return getattr(model, "_nodes", None) is not None and getattr(model, "inputs", None) is not None


def _node_depths(nodes):
    """Depth of each node (outputs at 0), computed as the functional graph does."""
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    return node_depth


def _is_sequential_like(model) -> bool:
    from graphkeras.engine.sequential import Sequential
    if isinstance(model, Sequential) or not _is_graph_network(model):
        return True
    nodes = model._nodes
    depths = _node_depths(nodes)
    per_depth: dict[int, list] = {}
    for node in nodes:
        per_depth.setdefault(depths[id(node)], []).append(node)
    for group in per_depth.values():
        if len(group) > 1 or len(group[0].keras_inputs) > 1:
            return False  # branches, or a layer that merges several tensors
    node_ids = {id(n) for n in nodes}
    for layer in model.layers:
        if sum(1 for n in layer._inbound_nodes if id(n) in node_ids) > 1:
            return False  # a layer shared within the model
    return True


def _layer_range_bounds(model, layer_range):
    layers = model.layers
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not isinstance(layer_range[0], str) or not isinstance(layer_range[1], str):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    first = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    last = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not first or not last:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(first) > max(last):
        return min(last), max(first) + 1
    return min(first), max(last) + 1


# ---------------------------------------------------------------- cells
def _output_shape_text(layer):
    from graphkeras.engine.input_layer import InputLayer
    if _is_graph_network(layer):
        # a model's output shape is that of its own outputs, called or not
        outputs = layer._nested_outputs
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0] if len(outputs) == 1 else list(outputs)
        return str(map_structure(lambda t: t.shape, outputs))
    try:
        shape = layer.output_shape
    except AttributeError:
        return "multiple"
    except RuntimeError:
        return "?"
    if isinstance(layer, InputLayer):
        shape = [shape]  # tf.keras reports an input layer's shape as a one-element list
    return str(shape)


def _param_text(layer):
    if not layer.built and not _is_graph_network(layer):
        return "0 (unused)"
    return layer.count_params()


def _connections(layer, node_ids):
    out = []
    for node in layer._inbound_nodes:
        if id(node) not in node_ids:
            continue
        for tensor in node.keras_inputs:
            source, node_index, tensor_index = tensor._keras_history
            out.append(f"{source.name}[{node_index}][{tensor_index}]")
    return out


# ---------------------------------------------------------------- printing
class _Table:
    def __init__(self, print_fn, line_length, positions):
        self.print_fn = print_fn
        self.line_length = line_length
        self.positions = positions

    def row(self, fields, level=0):
        """Print one table row, wrapping cells that do not fit their column."""
        pending = [str(f) for f in fields]
        positions = self.positions
        n_cols = len(positions)
        while any(pending):
            line = ""
            for col, text in enumerate(pending):
                start = positions[col - 1] if col > 0 else 0
                is_last = col == n_cols - 1
                gap = 0 if is_last else 2
                # the cell's width, less the gap before the next column and one
                # character that aligns the next column's text with its header
                width = positions[col] - start - gap - (0 if is_last else 1)
                if col == 0:
                    width -= level
                width = max(width, 1)
                piece = text[:width]
                breaks = [piece.find(s) + len(s) for s in _BREAK_AFTER if s in piece]
                if breaks:
                    width = min(breaks)
                    piece = piece[:width]
                pending[col] = text[width:]
                if col == 0:
                    line += "|" * level + " "
                line += piece + " " * gap
                end = positions[col] - (level if is_last and level else 0)
                line += " " * (end - len(line))
            self.print_fn(line + "|" * level)

    def open_nested(self, level):
        width = self.line_length - 2 * level - 2
        self.print_fn("|" * (level + 1) + "\u00af" * width + "|" * (level + 1))

    def close_nested(self, level):
        self.print_fn("|" * level + "\u00af" * (self.line_length - 2 * level) + "|" * level)

    def spacer(self, level):
        self.print_fn("|" * level + " " * (self.line_length - 2 * level) + "|" * level)


def _default_print(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Print a summary of ``model``, one line per ``print_fn(line)`` call, as tf.keras 2.x."""
    if print_fn is None:
        print_fn = _default_print
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = list(positions or [0.45, 0.85, 1.0])
        header = ["Layer (type)", "Output Shape", "Param #"]
        node_ids = set()
    else:
        line_length = line_length or 98
        positions = list(positions or [0.3, 0.6, 0.7, 1.0])
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        node_ids = {id(n) for n in model._nodes}
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if show_trainable:
        line_length += 11
        positions.append(line_length)
        header.append("Trainable")
    start, stop = _layer_range_bounds(model, layer_range)

    table = _Table(print_fn, line_length, positions)

    def fields_of(layer):
        fields = [f"{layer.name} ({type(layer).__name__})", _output_shape_text(layer),
                  _param_text(layer)]
        if not sequential_like:
            fields.append(_connections(layer, node_ids))
        if show_trainable:
            fields.append("Y" if layer.trainable else "N")
        return fields

    def print_layer(layer, level=0, last_in_group=False):
        table.row(fields_of(layer), level)
        children = getattr(layer, "layers", None) if expand_nested else None
        if children:
            table.open_nested(level)
            for i, child in enumerate(children):
                print_layer(child, level + 1, i == len(children) - 1)
            table.close_nested(level)
        elif not last_in_group:
            table.spacer(level)

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    table.row(header)
    print_fn("=" * line_length)
    for layer in model.layers[start:stop]:
        print_layer(layer)
    print_fn("=" * line_length)

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    n_trainable, n_non_trainable = count_params(trainable), count_params(non_trainable)
    bytes_trainable = weight_memory_size(trainable)
    bytes_non_trainable = weight_memory_size(non_trainable)
    print_fn(f"Total params: {n_trainable + n_non_trainable} "
             f"({readable_memory_size(bytes_trainable + bytes_non_trainable)})")
    print_fn(f"Trainable params: {n_trainable} ({readable_memory_size(bytes_trainable)})")
    print_fn(f"Non-trainable params: {n_non_trainable} "
             f"({readable_memory_size(bytes_non_trainable)})")
    print_fn("_" * line_length)
