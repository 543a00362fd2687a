"""Functional models: a graph of layer calls from ``gk.Input`` to outputs,
replayed when traced, and serialized in tf.keras' config schema."""
from __future__ import annotations

import collections
import copy
import inspect

import numpy as np

from graphkeras import serialization
from graphkeras.engine.base_layer import Layer, attach_mask, get_mask
from graphkeras.engine.input_layer import InputLayer
from graphkeras.engine.keras_tensor import KerasTensor, flatten, map_structure, pack_like
from graphkeras.engine.training import Model


def map_graph_network(inputs, outputs):
    """Nodes in topological order and layers in tf.keras' order (by decreasing
    depth, ties by discovery order), checking every output is computable."""
    order, layer_indices = [], {}
    done, active = set(), set()

    def enter(tensor):
        """The node to visit for ``tensor``, marked active; None once it is done."""
        node = tensor.node
        if id(node) in done:
            return None
        if id(node) in active:
            raise ValueError(f"The tensor {tensor} at layer '{node.layer.name}' is part of a cycle.")
        layer_indices.setdefault(node.layer, len(layer_indices))
        active.add(id(node))
        return node

    def inputs_of(node):
        return iter(()) if node.is_input else iter(node.keras_inputs)

    # depth-first, post-order, with an explicit stack (a deep model would exceed Python's
    # recursion limit): a node is appended once all its inputs' nodes are
    for t in outputs:
        node = enter(t)
        stack = [(node, inputs_of(node))] if node is not None else []
        while stack:
            node, pending = stack[-1]
            for t_in in pending:
                child = enter(t_in)
                if child is not None:
                    stack.append((child, inputs_of(child)))
                    break
            else:
                stack.pop()
                done.add(id(node))
                active.discard(id(node))
                order.append(node)
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:
        layer = t._keras_history[0]
        if layer not in layer_depth:
            layer_depth[layer] = 0
            layer_indices[layer] = -1
            order.insert(0, layer._inbound_nodes[0])
    input_ids = {id(t) for t in inputs}
    for node in order:
        if node.is_input:
            for t in node.flat_outputs:
                if id(t) not in input_ids:
                    raise ValueError(
                        f"Graph disconnected: cannot obtain value for tensor {t} at layer "
                        f'"{node.layer.name}". The following previous layers were accessed '
                        "without issue: " + str([n.layer.name for n in order if not n.is_input]))
    by_depth: dict[int, list] = {}
    for layer, depth in layer_depth.items():
        by_depth.setdefault(depth, []).append(layer)
    layers = []
    for depth in sorted(by_depth, reverse=True):
        layers += sorted(by_depth[depth], key=lambda lyr: layer_indices[lyr])
    return order, layers


class Functional(Model):
    """A model defined by ``gk.Model(inputs, outputs)``."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._init_graph_network(inputs, outputs)

    def _init_graph_network(self, inputs, outputs):
        if isinstance(inputs, dict):
            self._input_names_from_dict = list(inputs)
        self._nested_inputs = inputs
        self._nested_outputs = outputs
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        for t in flat_in + flat_out:
            if not isinstance(t, KerasTensor):
                raise ValueError("Model inputs and outputs must be tensors from gk.Input and layer "
                                 f"calls (KerasTensors). Received: {t!r}")
        for t in flat_in:
            if not t.node.is_input:
                raise ValueError(f"Model inputs must come from `gk.Input`. Received: {t} "
                                 f"(created by layer '{t.node.layer.name}')")
        self.inputs, self.outputs = flat_in, flat_out
        self._nodes, layers = map_graph_network(flat_in, flat_out)
        self._node_ids = {id(n) for n in self._nodes}
        object.__setattr__(self, "_layers", layers)
        self._input_layers = [t._keras_history[0] for t in flat_in]
        self._output_layers = [t._keras_history[0] for t in flat_out]
        self.input_names = [layer.name for layer in self._input_layers]
        self.output_names = _unique([layer.name for layer in self._output_layers])
        self.built = True
        self._build_input_shape = [t.shape for t in flat_in]

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_spec(self):
        return None

    @input_spec.setter
    def input_spec(self, value):
        pass

    def _input_structure(self):
        return self._nested_inputs

    _compute_output_and_mask_jointly = True  # the outputs carry their masks from the graph

    def call(self, inputs, training=None, mask=None):
        values = {}
        flat = self._flatten_call_inputs(inputs)
        masks = _flatten_call_masks(self, mask, len(flat))
        for t, v, m in zip(self.inputs, flat, masks):
            values[id(t)] = v if m is None else attach_mask(v, m)
        for node in self._nodes:
            if node.is_input:
                continue
            args, kwargs = node.map_arguments(values)
            outs = node.layer(*args, **kwargs)
            for t, v in zip(node.flat_outputs, flatten(outs)):
                values[id(t)] = v
        return pack_like(self._nested_outputs, [values[id(t)] for t in self.outputs])

    def compute_mask(self, inputs, mask=None):
        """The output masks: the graph run on ``inputs`` with ``mask`` (tf.keras)."""
        outputs = self.call(inputs, mask=mask)
        return map_structure(get_mask, outputs)

    def _flatten_call_inputs(self, inputs):
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Missing data for input(s) {missing}. Expected keys: "
                                 f"{self.input_names}; received: {sorted(inputs)}.")
            return [inputs[n] for n in self.input_names]
        flat = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self.inputs):
            raise ValueError(f'Layer "{self.name}" expects {len(self.inputs)} input(s), but it '
                             f"received {len(flat)} input tensors.")
        return flat

    # ------------------------------------------------------------ config
    def _node_key_index(self):
        """Per layer, the index of each of its nodes among the nodes of this model."""
        index = {}
        for layer in self._layers:
            kept = [n for n in layer._inbound_nodes if id(n) in self._node_ids]
            for i, n in enumerate(kept):
                index[id(n)] = _first_node_index(layer) + i
        return index

    def get_config(self):
        node_index = self._node_key_index()

        def ref(t):
            layer, ni, ti = t._keras_history
            return [layer.name, node_index[id(layer._inbound_nodes[ni])], ti]

        layer_configs = []
        for layer in self._layers:
            entry = serialize_layer(layer)
            entry["name"] = layer.name
            nodes = []
            for node in layer._inbound_nodes:
                if id(node) not in self._node_ids or node.is_input:
                    continue
                nodes.append(serialize_node(node, ref))
            entry["inbound_nodes"] = nodes
            layer_configs.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": _refs(self._nested_inputs, ref),
                "output_layers": _refs(self._nested_outputs, ref)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        inputs, outputs, name = reconstruct_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=name)


def _flatten_call_masks(model, mask, n):
    """The masks given to a model call, one per model input (None where none)."""
    if mask is None:
        return [None] * n
    if isinstance(mask, dict):
        return [mask.get(name) for name in model.input_names]
    masks = flatten(mask) if isinstance(mask, (list, tuple)) else [mask]
    return masks + [None] * (n - len(masks))


def serialize_node(node, ref):
    """tf.keras' node layout: the first argument's structure with each tensor as
    ``[layer, node, tensor, kwargs]``; other arguments go into ``kwargs`` (by name),
    tensors among them as ``[layer, node, tensor]``."""
    layer = node.layer
    first, rest = node.call_args[0], node.call_args[1:]
    names = [p for p in inspect.signature(layer.call).parameters][1:]
    kwargs = dict(zip(names, rest))
    kwargs.update(node.call_kwargs)  # an explicit mask too (the framework's are not recorded)
    kwargs = map_structure(lambda v: ref(v) if isinstance(v, KerasTensor) else
                           (v.tolist() if isinstance(v, np.ndarray) else v), kwargs)

    def leaf(t):
        if isinstance(t, KerasTensor):
            return ref(t) + [kwargs]
        return ["_CONSTANT_VALUE", -1, t.tolist() if isinstance(t, np.ndarray) else t, kwargs]

    data = map_structure(leaf, first)
    if not isinstance(first, (list, tuple, dict)) and not getattr(layer, "_preserve_input_structure", False):
        data = [data]
    return data


def _refs(structure, ref):
    if isinstance(structure, dict):
        return {k: ref(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [ref(t) for t in flatten(structure)]
    return [ref(structure)]


def _unique(names):
    seen, out = {}, []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def serialize_layer(layer) -> dict:
    config = layer.get_config()
    module = getattr(layer, "_keras_module", "keras.layers")
    registered = getattr(type(layer), "_registered_name", None)
    class_name = getattr(layer, "_serialized_class_name", type(layer).__name__)
    entry = {"module": None if registered else module, "class_name": class_name,
             "config": config, "registered_name": registered}
    if layer.built and getattr(layer, "_build_input_shape", None) is not None \
            and not isinstance(layer, (InputLayer, Model)):
        entry["build_config"] = {"input_shape": _jsonable_shape(layer._build_input_shape)}
    return entry


def _jsonable_shape(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [list(s) for s in shape]
    return list(shape) if shape is not None else None


def deserialize_layer(entry, custom_objects=None):
    class_name = entry["class_name"]
    if class_name in ("Functional", "Model", "Sequential"):
        from graphkeras.engine.sequential import Sequential
        target = Sequential if class_name == "Sequential" else Functional
        # read, not modified: each layer's own entry is copied when it is deserialized
        return target.from_config(entry.get("config", {}), custom_objects=custom_objects)
    config = copy.deepcopy(entry.get("config", {}))
    cls = serialization.lookup("layer", entry.get("registered_name") or class_name, custom_objects) \
        or serialization.lookup("layer", class_name, custom_objects)
    if cls is None:
        raise ValueError(f"Unknown layer: '{class_name}'. Please ensure you are using a "
                         "`gk.layers` layer, or pass custom layers in `custom_objects` or register "
                         "them with `gk.utils.register_keras_serializable`.")
    if hasattr(cls, "from_config"):
        try:
            return cls.from_config(config, custom_objects=custom_objects)
        except TypeError as err:
            if "custom_objects" not in str(err):
                raise
            return cls.from_config(config)
    return cls(**config)


def reconstruct_from_config(config, custom_objects=None):
    """Layers and tensors of a functional config (tf.keras' schema)."""
    entries = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError("A functional model config needs 'layers': a list of layer entries "
                         "({'class_name', 'config', 'inbound_nodes'}).")
    created: dict[str, Layer] = {}
    pending = []
    for entry in entries:
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name", (entry.get("config") or {}).get("name"))
        created[name] = layer
        build = entry.get("build_config")
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ValueError(f"The 'inbound_nodes' of layer {name!r} should be a list.")
        pending.append((layer, list(nodes), build))
    outputs_of: dict[tuple, list] = {}  # (layer name, node index) -> flat outputs
    made: dict[str, int] = {}  # per layer name, how many of its nodes exist
    for layer in created.values():
        if isinstance(layer, InputLayer):
            outputs_of[(layer.name, 0)] = [layer._inbound_nodes[0].outputs]
            made[layer.name] = 1
    # each layer calls its nodes in order; one whose inputs are not there yet waits for
    # the first missing one (so a config listed in any order rebuilds in linear time)
    waiting: dict[tuple, list[int]] = {}
    queue = collections.deque(range(len(pending)))
    while queue:
        i = queue.popleft()
        layer, nodes, _ = pending[i]
        while nodes:
            missing = []
            called = _process_node(layer, nodes[0], outputs_of, missing)
            if called is None:
                waiting.setdefault((missing[0][0], missing[0][1]), []).append(i)
                break
            index = _first_node_index(layer) + made.get(layer.name, 0)
            made[layer.name] = made.get(layer.name, 0) + 1
            outputs_of[(layer.name, index)] = flatten(called)
            nodes.pop(0)
            queue.extend(waiting.pop((layer.name, index), ()))
    stuck = [layer.name for layer, nodes, _ in pending if nodes]
    if stuck:
        raise ValueError(f"Could not rebuild the model graph: layers {stuck} have inputs that "
                         "are never produced.")

    def tensor(ref):
        try:
            return outputs_of[(ref[0], ref[1])][ref[2]]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"The model config names {ref!r} among its inputs or outputs, "
                             "which no layer of the config produces.") from None

    def tensors(refs):
        if isinstance(refs, dict):
            return {k: tensors(v) for k, v in refs.items()}
        if not isinstance(refs, list):
            raise ValueError(f"Invalid input or output list in the model config: {refs!r}.")
        if refs and isinstance(refs[0], str):  # a single ref written without a list around it
            return tensor(refs)
        return [tensor(r) for r in refs]

    inputs = tensors(config.get("input_layers"))
    outputs = tensors(config.get("output_layers"))
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    if isinstance(outputs, list) and len(outputs) == 1:
        outputs = outputs[0]
    return inputs, outputs, config.get("name")


def _first_node_index(layer):
    """tf.keras numbers the nodes of a nested model that has its own Input from 1 (its
    node 0 is the one inside it), in configs it writes and reads."""
    layers = getattr(layer, "_layers", None)
    return 1 if isinstance(layer, Functional) and layers and isinstance(layers[0], InputLayer) \
        else 0


def _is_ref(x):
    return isinstance(x, list) and len(x) in (3, 4) and isinstance(x[0], str) \
        and isinstance(x[1], int) and (len(x) == 3 or isinstance(x[3], dict))


def _process_node(layer, node_data, outputs_of, missing=None):
    """Call ``layer`` as one serialized node says, or return None if an input
    it needs has not been produced yet (listed in ``missing``)."""
    if isinstance(node_data, dict):  # Keras 3 layout
        raise ValueError("This JSON was written by Keras 3; graphkeras reads tf.keras 2.x configs.")
    kwargs = {}
    missing = [] if missing is None else missing

    def resolve(ref):
        nonlocal kwargs
        if len(ref) == 4:
            kwargs = ref[3]
        if ref[0] == "_CONSTANT_VALUE":
            return ref[2]
        key = (ref[0], ref[1])
        if key not in outputs_of or ref[2] >= len(outputs_of[key]):
            missing.append(ref)
            return None
        return outputs_of[key][ref[2]]

    def walk(data):
        if _is_ref(data):
            return resolve(data)
        if isinstance(data, list):
            return [walk(d) for d in data]
        if isinstance(data, dict):
            return {k: walk(v) for k, v in data.items()}
        return data

    inputs = walk(node_data)
    kwargs = _resolve_kwargs(kwargs, outputs_of, missing)
    if missing:
        return None
    if not getattr(layer, "_preserve_input_structure", False) and isinstance(inputs, list) \
            and len(inputs) == 1:
        inputs = inputs[0]
    return layer(inputs, **kwargs)


def _resolve_kwargs(kwargs, outputs_of, missing):
    def resolve(v):
        if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and isinstance(v[1], int):
            key = (v[0], v[1])
            if key in outputs_of and v[2] < len(outputs_of[key]):
                return outputs_of[key][v[2]]
            missing.append(v)
            return None
        if isinstance(v, list) and any(isinstance(x, list) for x in v) and \
                all(isinstance(x, list) or x is None for x in v):  # e.g. mask=[a, None]
            return [resolve(x) for x in v]
        return v
    return {k: resolve(v) for k, v in kwargs.items()}
