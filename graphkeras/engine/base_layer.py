"""``Layer``: the base of every layer and model.

A layer's ``call`` is written on ``gk.ops``. The same code runs three ways:
on numpy arrays (eagerly, through each op's numpy kernel), on symbolic
tensors while a model is traced for compilation, and on ``KerasTensor``
placeholders when building a functional model (shape inference only).
"""
from __future__ import annotations

import contextlib
import inspect
import threading

import numpy as np

from graphkeras import backend, initializers, regularizers
from graphkeras.compiler.primitive import Tensor, current_trace
from graphkeras.compiler.primitive import Trace
from graphkeras.engine.keras_tensor import KerasTensor, Node, flatten, map_structure, pack_like
from graphkeras.variables import Variable

_ALLOWED_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "weights",
                   "activity_regularizer", "autocast", "input_dim", "implementation", "dynamic"}
_context = threading.local()


def call_context_training():
    """The ``training`` value of the innermost model call (None outside one)."""
    stack = getattr(_context, "training", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def training_scope(training):
    stack = getattr(_context, "training", None)
    if stack is None:
        stack = _context.training = []
    stack.append(training)
    try:
        yield
    finally:
        stack.pop()


class InputSpec:
    """What a layer accepts: rank bounds and fixed sizes of given axes."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None):
        self.dtype = dtype
        self.shape = shape
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.name = name

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes}


def assert_input_compatibility(specs, inputs, layer_name):
    if specs is None:
        return
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    flat = flatten(inputs)
    if len(flat) != len(specs):
        raise ValueError(f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
                         f"{len(flat)} input tensors.")
    for i, (spec, x) in enumerate(zip(specs, flat)):
        if spec is None or not hasattr(x, "shape"):
            continue
        shape = tuple(x.shape)
        ndim = len(shape)
        head = f'Input {i} of layer "{layer_name}" is incompatible with the layer: '
        if spec.ndim is not None and ndim != spec.ndim:
            raise ValueError(f"{head}expected ndim={spec.ndim}, found ndim={ndim}. "
                             f"Full shape received: {_fmt(shape)}")
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(f"{head}expected max_ndim={spec.max_ndim}, found ndim={ndim}. "
                             f"Full shape received: {_fmt(shape)}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(f"{head}expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                             f"Full shape received: {_fmt(shape)}")
        for axis, value in spec.axes.items():
            if value is None or not -ndim <= axis < ndim:
                continue
            if shape[axis] not in (value, None):
                raise ValueError(f"{head}expected axis {axis} of input shape to have value "
                                 f"{value}, but received input with shape {_fmt(shape)}")
        if spec.shape is not None:
            for expected, got in zip(spec.shape, shape):
                if expected is not None and got is not None and expected != got:
                    raise ValueError(f"{head}expected shape={_fmt(spec.shape)}, found "
                                     f"shape={_fmt(shape)}")


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def shape_of(x):
    """Static shape of an array, symbolic tensor or KerasTensor (batch dim kept)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


class Layer:
    """Base class of layers (tf.keras ``Layer``): ``build``, ``call``, ``add_weight``,
    ``get_config``."""

    def __init__(self, trainable=True, name=None, dtype=None, dynamic=False, **kwargs):
        for key in kwargs:
            if key not in _ALLOWED_KWARGS:
                raise TypeError("Keyword argument not understood:", key)
        self._init_state()
        if name is None:
            name = backend.unique_name(backend.snake_case(type(self).__name__))
        else:
            backend.observe_name(name)
        self.name = name
        self._trainable = trainable
        if isinstance(dtype, dict):  # a serialized mixed-precision policy
            dtype = dtype.get("config", {}).get("name", "float32")
        self._dtype = dtype or backend.floatx()
        if "input_dim" in kwargs and "input_shape" not in kwargs:
            kwargs["input_shape"] = (kwargs["input_dim"],)
        if "input_shape" in kwargs or "batch_input_shape" in kwargs:
            if "batch_input_shape" in kwargs:
                batch_input_shape = tuple(kwargs["batch_input_shape"])
            else:
                batch_input_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
            self._batch_input_shape = batch_input_shape
        self._initial_weights = kwargs.get("weights")
        self.activity_regularizer = regularizers.get(kwargs.get("activity_regularizer"))
        self._call_has_training = "training" in inspect.signature(self.call).parameters
        self._call_has_mask = "mask" in inspect.signature(self.call).parameters

    def _init_state(self):
        if getattr(self, "_state_ready", False):
            return
        object.__setattr__(self, "_state_ready", True)
        self._trainable_weights: list[Variable] = []
        self._non_trainable_weights: list[Variable] = []
        self._layers: list[Layer] = []
        self._metrics: list = []  # metrics assigned as attributes (e.g. a loss tracker)
        self._inbound_nodes: list[Node] = []
        self._losses: list = []
        self._loss_fns: list = []
        self.built = False
        self.input_spec = None
        # as tf.keras: a layer that overrides compute_mask supports masking
        self._supports_masking = type(self).compute_mask is not Layer.compute_mask
        self._batch_input_shape = None
        self._build_input_shape = None

    # attribute tracking ---------------------------------------------
    def __setattr__(self, name, value):
        if not name.startswith("_state_ready"):
            self._init_state()
        if getattr(value, "_is_metric", False) and not name.startswith("_"):
            if not any(value is x for x in self._metrics):
                self._metrics.append(value)  # model.metrics lists it; weights do not
        elif isinstance(value, Layer) and value is not self and not name.startswith("_"):
            if not any(value is x for x in self._layers):
                self._layers.append(value)
        elif isinstance(value, (list, tuple)) and not name.startswith("_"):
            for item in value:
                if isinstance(item, Layer) and not any(item is x for x in self._layers):
                    self._layers.append(item)
        object.__setattr__(self, name, value)

    # properties -----------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def compute_dtype(self):
        return self._dtype

    @property
    def variable_dtype(self):
        return self._dtype

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        out = list(self._trainable_weights)
        for layer in self._layers:
            out += layer.trainable_weights
        return _dedup(out)

    @property
    def non_trainable_weights(self):
        out = list(self._non_trainable_weights)
        if not self._trainable:
            out = list(self._trainable_weights) + out
        for layer in self._layers:
            out += layer.non_trainable_weights
        return _dedup(out)

    @property
    def weights(self):
        return _dedup(self.trainable_weights + self.non_trainable_weights)

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def losses(self):
        """Regularization penalties of this layer and its sublayers (evaluated now), and
        the losses added during the model call being traced (activity regularizers,
        ``add_loss`` on symbolic values), as tf.keras' ``layer.losses``."""
        out = self._own_and_children_losses()
        trace = current_trace()
        if trace is not None:
            out += trace.collections.get("losses", [])
        return out

    def _own_and_children_losses(self):
        out = []
        for weight, reg in self._weight_regularizers():
            out.append(reg(weight))
        for fn in self._loss_fns:
            out.append(fn())
        out += self._losses
        for layer in self._layers:
            out += layer._own_and_children_losses()
        return out

    def _weight_regularizers(self):
        for w in self._trainable_weights + self._non_trainable_weights:
            if w.regularizer is not None:
                yield w, w.regularizer

    def add_loss(self, loss):
        """A loss term: a callable (evaluated when losses are read), a constant, or a
        symbolic value computed in ``call`` (kept for the step being traced)."""
        if isinstance(loss, Tensor):
            loss.trace.collections.setdefault("losses", []).append(loss)
        elif callable(loss):
            self._loss_fns.append(loss)
        else:
            self._losses.append(loss)

    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" is not connected, no input to return.')
        node = self._inbound_nodes[0]
        args = node.call_args[0] if node.call_args else node.outputs
        return args

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" has no inbound nodes.')
        return self._inbound_nodes[0].outputs

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self.input)

    @property
    def output_shape(self):
        if not self._inbound_nodes:
            raise AttributeError(f'The layer "{self.name}" has never been called and thus has '
                                 "no defined output shape.")
        shapes = {tuple(map_structure(lambda t: t.shape, n.outputs)) if isinstance(n.outputs, list)
                  else n.outputs.shape for n in self._inbound_nodes}
        out = self._inbound_nodes[0].outputs
        if len(shapes) > 1:
            raise AttributeError(f'The layer "{self.name}" has multiple inbound nodes with different '
                                 "output shapes.")
        return map_structure(lambda t: t.shape, out)

    # masking --------------------------------------------------------
    @property
    def supports_masking(self):
        """Whether ``compute_mask`` runs after ``call`` (tf.keras' rule: set by the layer, or
        True when the layer overrides ``compute_mask``)."""
        return self._supports_masking

    @supports_masking.setter
    def supports_masking(self, value):
        self._supports_masking = value

    def compute_mask(self, inputs, mask=None):
        """The output mask: None, or the input mask passed through when the layer
        supports masking (tf.keras' default)."""
        if not self._supports_masking:
            if any(m is not None for m in flatten(mask)):
                raise TypeError(f"Layer {self.name} does not support masking, but was passed an "
                                f"input_mask: {mask}")
            return None
        return mask

    def _mask_argument(self, args, kwargs):
        """(passed, value) of an explicit ``mask`` argument, by keyword or by position."""
        if "mask" in kwargs:
            return True, kwargs["mask"]
        if self._call_has_mask:
            names = list(inspect.signature(self.call).parameters)
            index = names.index("mask")
            if len(args) > index:
                return True, args[index]
        return False, None

    def _get_input_masks(self, inputs, args, kwargs):
        """(masks, implicit): an explicit ``mask`` argument wins; otherwise the
        ``_keras_mask`` of the input tensors, shaped like ``inputs`` (None when none has
        one), as tf.keras does."""
        if not self._supports_masking and not self._call_has_mask:
            return None, False
        passed, value = self._mask_argument(args, kwargs)
        if passed:
            return value, False
        masks = [get_mask(t) for t in flatten(inputs)]
        if all(m is None for m in masks):
            return None, False
        return pack_like(inputs, masks), True

    def _set_mask_metadata(self, inputs, outputs, previous_mask):
        """Attach ``compute_mask``'s result to the outputs (unless ``call`` set them)."""
        flat = flatten(outputs)
        if getattr(self, "_compute_output_and_mask_jointly", False) or \
                all(get_mask(x) is not None for x in flat):
            return outputs
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return outputs
        flat_masks = flatten(masks)
        new = [attach_mask(t, m) for t, m in zip(flat, flat_masks)] + flat[len(flat_masks):]
        return pack_like(outputs, new)

    # weights --------------------------------------------------------
    def add_weight(self, name=None, shape=None, dtype=None, initializer=None, regularizer=None,
                   trainable=None, constraint=None, use_resource=None, synchronization=None,
                   aggregation=None, **kwargs):
        shape = tuple(int(d) for d in (shape or ()))
        dtype = dtype or self._dtype
        if initializer is None:
            initializer = "glorot_uniform" if np.issubdtype(np.dtype(dtype), np.floating) else "zeros"
        init = initializers.get(initializer)
        make = getattr(_context, "make_weight", None)  # set while a saved model is rebuilt
        value = init(shape, dtype=dtype) if make is None else make(shape, dtype, init)
        trainable = True if trainable is None else trainable
        var = Variable(value, name=f"{self.name}/{name or 'Variable'}", trainable=trainable,
                       dtype=dtype)
        var.regularizer = regularizers.get(regularizer)
        var.constraint = constraint
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        return var

    def get_weights(self):
        return [np.array(w.numpy()) for w in self.weights]

    def set_weights(self, weights):
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f'You called `set_weights(weights)` on layer "{self.name}" with a weight list of '
                f"length {len(weights)}, but the layer was expecting {len(params)} weights. "
                f"Provided weights: {_summarize(weights)}")
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(p.shape) != tuple(w.shape):
                raise ValueError(f'Layer "{self.name}" weight shape {p.shape} is not compatible '
                                 f"with provided weight shape {w.shape} (weight {p.name!r}).")
        for p, w in zip(params, weights):
            p.assign(w)

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer {self.name}, but the layer "
                             "isn't built. You can build it manually via: "
                             f"`{self.name}.build(batch_input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # building and calling -------------------------------------------
    def build(self, input_shape):
        self._build_input_shape = input_shape
        self.built = True

    def call(self, inputs, *args, **kwargs):
        return inputs

    def compute_output_shape(self, input_shape):
        """Output shape, found by tracing ``call`` on a placeholder."""
        trace = Trace("shape")
        multi = isinstance(input_shape, list) and input_shape and \
            isinstance(input_shape[0], (list, tuple))
        with trace:
            if multi:
                placeholders = [trace.input(tuple(s), self._dtype, "x") for s in input_shape]
            else:
                placeholders = trace.input(tuple(input_shape), self._dtype, "x")
            self._maybe_build(placeholders)
            out = self.call(placeholders)
        return map_structure(lambda t: t.shape, out)

    def _maybe_build(self, inputs):
        if self.built:
            return
        self._build_with(map_structure(shape_of, inputs))

    def _build_with(self, shapes):
        self.build(shapes)
        self._build_input_shape = shapes
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def __call__(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise ValueError(f'Layer "{self.name}" was called without inputs.')
            args = (kwargs.pop("inputs"),)
        inputs = args[0]
        if any(isinstance(t, KerasTensor) for t in flatten(args) + flatten(kwargs)):
            return self._functional_call(args, kwargs)
        if self._call_has_training and kwargs.get("training") is None:
            training = call_context_training()
            kwargs["training"] = bool(training) if training is not None else False
        elif not self._call_has_training:
            kwargs.pop("training", None)
        input_masks, implicit_mask = self._get_input_masks(inputs, args, kwargs)
        if implicit_mask and self._call_has_mask:
            kwargs["mask"] = input_masks
        if not self._call_has_mask:
            kwargs.pop("mask", None)
        inputs = map_structure(_as_input_array, inputs)
        assert_input_compatibility(self.input_spec, inputs, self.name)
        self._maybe_build(inputs)
        assert_input_compatibility(self.input_spec, inputs, self.name)
        trace = current_trace()
        scope = trace.name_scope(self.name) if trace is not None else contextlib.nullcontext()
        with scope:
            outputs = self.call(inputs, *args[1:], **kwargs)
            if self.activity_regularizer is not None and trace is not None:
                from graphkeras.compiler import ops
                from graphkeras.compiler.ops.reduce import dim_size
                for out in flatten(outputs):
                    # tf.keras: the penalty of the outputs, divided by the batch size
                    penalty = self.activity_regularizer(out)
                    self.add_loss(ops.divide(penalty, dim_size(out, (0,), "float32")))
            if self._supports_masking:
                outputs = self._set_mask_metadata(inputs, outputs, input_masks)
        return outputs

    def _functional_call(self, args, kwargs):
        """Record a node: infer output shapes by tracing ``call`` on placeholders."""
        inputs = args[0]
        assert_input_compatibility(self.input_spec, inputs, self.name)
        input_masks, implicit_mask = self._get_input_masks(inputs, args, kwargs)
        trace = Trace(f"{self.name}_shape")
        placeholders = {}
        with trace:
            def to_placeholder(x):
                if isinstance(x, KerasTensor):
                    t = trace.input(x.shape, x.dtype, x.name or "x")
                    if x._keras_mask is not None:  # the mask's placeholder rides along
                        t._keras_mask = trace.input(x._keras_mask.shape, x._keras_mask.dtype,
                                                    "mask")
                    placeholders[id(x)] = t
                    return t
                return x
            t_args = map_structure(to_placeholder, args)
            t_kwargs = map_structure(to_placeholder, kwargs)
            if implicit_mask:
                t_masks = pack_like(inputs, [get_mask(t) for t in flatten(t_args[0])])
                if self._call_has_mask:  # passed to call, not recorded in the node
                    t_kwargs["mask"] = t_masks
            else:
                t_masks = self._mask_argument(t_args, t_kwargs)[1]
            if self._call_has_training and t_kwargs.get("training") is None:
                t_kwargs["training"] = False
            elif not self._call_has_training:
                t_kwargs.pop("training", None)
            if not self._call_has_mask:
                t_kwargs.pop("mask", None)
            self._maybe_build(t_args[0])
            assert_input_compatibility(self.input_spec, t_args[0], self.name)
            with trace.name_scope(self.name):
                t_out = self.call(*t_args, **t_kwargs)
            if self._supports_masking:
                t_out = self._set_mask_metadata(t_args[0], t_out, t_masks)
        del inputs, input_masks

        def to_keras(t):
            if isinstance(t, Tensor):
                out = KerasTensor(t.shape, t.dtype, name=self.name)
            else:
                out = KerasTensor(np.shape(t), np.asarray(t).dtype.name, name=self.name)
            mask = get_mask(t)
            if mask is not None:
                out._keras_mask = KerasTensor(shape_of(mask), str(mask.dtype),
                                              name=f"{self.name}_mask")
            return out
        outputs = map_structure(to_keras, t_out)
        Node(self, call_args=args, call_kwargs=kwargs, outputs=outputs)
        return outputs

    # config ---------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__name__} object '{self.name}'>"


class MaskedArray(np.ndarray):
    """An eager (numpy) layer output that carries its mask in ``_keras_mask``, as tf.keras
    sets the attribute on eager tensors. Arrays computed from it are plain values (their
    ``_keras_mask`` is None)."""
    _keras_mask = None


def get_mask(x):
    """The ``_keras_mask`` of a tensor, KerasTensor or array (None if it has none)."""
    return getattr(x, "_keras_mask", None)


def attach_mask(x, mask):
    """``x`` carrying ``mask``: symbolic tensors get the attribute; a numpy array comes
    back as a :class:`MaskedArray` view."""
    if isinstance(x, (Tensor, KerasTensor)):
        x._keras_mask = mask
        return x
    if isinstance(x, np.ndarray):
        if mask is None and get_mask(x) is None:
            return x
        out = x.view(MaskedArray)
        out._keras_mask = mask
        return out
    try:
        x._keras_mask = mask
    except AttributeError:  # a value without attributes (a Python number)
        pass
    return x


def _as_input_array(x):
    if isinstance(x, (Tensor, np.ndarray)) or x is None:
        return x
    if isinstance(x, Variable):
        return x
    if isinstance(x, (int, float, bool, list)):
        arr = np.asarray(x)
        return arr.astype(np.float32) if arr.dtype == np.float64 else arr
    return np.asarray(x)


def _dedup(weights):
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _summarize(weights):
    return [getattr(w, "shape", None) for w in weights]
