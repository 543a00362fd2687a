"""``Model``: layers plus the compile/fit/evaluate/predict API.

Predict is compiled: the model is traced once (training=False) into graphkeras'
IR, lowered to one ONNX graph with a dynamic batch dimension, and run by ONNX
Runtime with the weights resident and bound by reference.
"""
from __future__ import annotations

import json

import numpy as np

from graphkeras import backend
from graphkeras.compiler.primitive import Tensor, Trace, current_trace
from graphkeras.engine import base_layer as _base_layer
from graphkeras.engine import data_adapter
from graphkeras.engine.base_layer import Layer, call_context_training, training_scope
from graphkeras.engine.compiled import CompiledGraph
from graphkeras.engine.keras_tensor import KerasTensor, flatten, pack_like
from graphkeras.engine.trainer import Trainer

KERAS_VERSION = "2.15.0"  # the tf.keras config schema graphkeras reads and writes


class Model(Trainer, Layer):
    """Groups layers into an object with training and inference features."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or ("inputs" in kwargs and "outputs" in kwargs)
                             or (len(args) == 1 and "outputs" in kwargs)):
            from graphkeras.engine.functional import Functional
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        from graphkeras.engine.functional import Functional
        if not isinstance(self, Functional) and (len(args) >= 2 or "outputs" in kwargs):
            # a subclass of Model called with inputs/outputs: a functional subclass
            inputs = kwargs.pop("inputs", args[0] if args else None)
            outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
            name = kwargs.pop("name", None)
            Model.__init__(self, name=name, **kwargs)
            Functional._init_graph_network(self, inputs, outputs)
            self._flatten_call_inputs = Functional._flatten_call_inputs.__get__(self)
            self._replay = Functional.call.__get__(self)
            return
        name = kwargs.pop("name", None)
        trainable = kwargs.pop("trainable", True)
        if name is None:
            base = "model" if isinstance(self, Functional) else backend.snake_case(type(self).__name__)
            name = backend.unique_name(base)
        kwargs.pop("inputs", None)
        kwargs.pop("outputs", None)
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._init_model_state()

    def _init_model_state(self):
        self._is_compiled = False
        self._run_eagerly = None
        self.compiled_loss = None
        self.compiled_metrics = None
        self.optimizer = None
        self._steps_per_execution = 1
        self._jit_compile = None
        self.predict_function = None
        self.train_function = None
        self.test_function = None
        self._steps = {}
        self._metrics_seen = False
        self._predict_graph = None
        self._saved_spec = None  # [(name, shape with batch None, dtype)] from the first call
        self.stop_training = False
        self.history = None
        if not hasattr(self, "inputs"):
            self.inputs = None
            self.outputs = None
        self.input_names = getattr(self, "input_names", None)
        self.output_names = getattr(self, "output_names", None)

    # ------------------------------------------------------------ layers
    @property
    def layers(self):
        return [layer for layer in self._layers]

    @property
    def weights(self):
        out = []
        for layer in self._layers:
            out += layer.weights
        out += self._trainable_weights + self._non_trainable_weights
        seen, deduped = set(), []
        for w in out:
            if id(w) not in seen:
                seen.add(id(w))
                deduped.append(w)
        return deduped

    variables = weights

    def get_layer(self, name=None, index=None):
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(self.layers)} layers.")
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs")
        flat = flatten(inputs)
        symbolic = any(isinstance(t, (KerasTensor, Tensor)) for t in flat) or current_trace()
        training = kwargs.get("training")
        nested = bool(getattr(_base_layer._context, "training", None))  # in a caller's call
        if training is None:  # a nested model runs in its caller's mode, as in tf.keras
            training = call_context_training()
        if symbolic or self.run_eagerly or training or nested:
            if not any(isinstance(t, KerasTensor) for t in flat):
                self._record_spec(inputs)
            with training_scope(bool(training) if training is not None else None):
                return super().__call__(*args, **kwargs)
        return self.predict_on_batch(inputs)

    def call(self, inputs, training=None, mask=None):
        replay = getattr(self, "_replay", None)
        if replay is not None:
            return replay(inputs, training=training, mask=mask)
        raise NotImplementedError(
            f"Model {type(self).__name__} has no `call` method. Subclasses of gk.Model must "
            "implement `call(self, inputs, training=None)`, or be built with inputs and outputs.")

    def _record_spec(self, inputs):
        if self._saved_spec is not None or self.inputs is not None:
            return
        flat = flatten(inputs)
        names = [f"input_{i + 1}" for i in range(len(flat))]
        if isinstance(inputs, dict):
            names = sorted(inputs)
        self._saved_spec = [(n, (None,) + tuple(x.shape[1:]), _dtype_name(x)) for n, x in
                            zip(names, flat)]
        self._saved_structure = inputs

    def _input_specs(self):
        """[(name, shape, dtype)] of the model's inputs, batch dimension None."""
        if self.inputs is not None:
            return [(n, t.shape, t.dtype) for n, t in zip(self.input_names, self.inputs)]
        if self._saved_spec is not None:
            return self._saved_spec
        return None

    def build(self, input_shape):
        """Build a subclassed model for inputs of ``input_shape`` (batch included)."""
        if self.inputs is not None and self.built:
            return
        multi = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple))
        shapes = input_shape if multi else [input_shape]
        trace = Trace(f"{self.name}_build")
        with trace, training_scope(False):
            xs = [trace.input((None,) + tuple(s)[1:], self._dtype, f"input_{i + 1}")
                  for i, s in enumerate(shapes)]
            self._record_spec(xs if multi else xs[0])
            self.call(xs if multi else xs[0], **({"training": False} if self._call_has_training else {}))
        self.built = True
        self._build_input_shape = input_shape

    @property
    def run_eagerly(self):
        return bool(self._run_eagerly)

    @run_eagerly.setter
    def run_eagerly(self, value):
        self._run_eagerly = value
        self._release_steps()
        self.predict_function = None
        self._predict_graph = None

    # ------------------------------------------------------------ predict
    def _trace_predict(self) -> CompiledGraph:
        specs = self._input_specs()
        if specs is None:
            raise ValueError(f"Model {self.name!r} cannot be compiled before its input shape is "
                             "known. Call it on data, call `build(input_shape)`, or start it with "
                             "an `Input`/`input_shape`.")
        trace = Trace(f"{self.name}_predict")
        with trace, training_scope(False):
            xs = [trace.input(shape, dtype, name) for name, shape, dtype in specs]
            structure = self._input_structure_for(xs)
            outputs = Layer.__call__(self, structure, training=False) if self._call_has_training \
                else Layer.__call__(self, structure)
            flat_out = flatten(outputs)
            flat_out = [o if isinstance(o, Tensor) else Tensor(trace.lift(o), trace) for o in flat_out]
        graph = trace.graph
        # state written by stateful layers (RNN states) comes out after the predictions
        updates = list(trace.updates.values())
        graph.outputs = [t.value for t in flat_out] + [t.value for _, t in updates]
        self._output_structure = outputs
        params = [var for var, _ in trace.params.values()]
        if self.output_names is None:
            self.output_names = [f"output_{i + 1}" for i in range(len(flat_out))]
        names = self.output_names if len(self.output_names) == len(flat_out) else None
        if names is not None and updates:
            names = names + [f"{var.path}/new" for var, _ in updates]
        compiled = CompiledGraph(graph, params, n_data=len(xs), eager=self.run_eagerly,
                                 output_names=names, frozen=not updates,
                                 jit=bool(self._jit_compile))
        compiled.state_updates = [var for var, _ in updates]
        return compiled

    def _input_structure_for(self, xs):
        if self.inputs is not None:
            structure = getattr(self, "_nested_inputs", None)
            if isinstance(structure, dict):
                return dict(zip(self.input_names, xs))
            if isinstance(structure, (list, tuple)):
                return pack_like(list(structure), xs)
            return xs[0]
        saved = getattr(self, "_saved_structure", None)
        if isinstance(saved, dict):
            return dict(zip(sorted(saved), xs))
        if isinstance(saved, (list, tuple)):
            return pack_like(list(saved), xs)
        return xs[0]

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        if self._predict_graph is None or force:
            self._predict_graph = self._trace_predict()
        compiled = self._predict_graph

        def predict_function(arrays):
            outs = compiled(arrays)
            written = getattr(compiled, "state_updates", ())
            if written:  # stateful layers: their new state, for the next call
                n = len(outs) - len(written)
                for var, value in zip(written, outs[n:]):
                    var.assign(value)
                outs = outs[:n]
            return outs

        self.predict_function = predict_function
        return predict_function

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _prepare_inputs(self, x, many_batches=False):
        specs = self._input_specs()
        if specs is None:
            self._build_from_data(x)
            specs = self._input_specs()
        elif type(x) is np.ndarray and len(specs) == 1:  # the common case, checked cheaply
            _, shape, dtype = specs[0]
            if x.dtype.name == dtype and x.ndim == len(shape) and x.flags.c_contiguous and \
                    all(e is None or e == g for e, g in zip(shape, x.shape)):
                return [x]
        arrays = data_adapter.flatten_inputs(x, [s[0] for s in specs])
        return data_adapter.check_and_cast(arrays, specs, self.name, many_batches)

    def _build_from_data(self, x):
        """First contact of a model without known inputs (subclassed or deferred Sequential)."""
        if data_adapter.is_namedtuple(x):
            data_adapter.flatten_inputs(x, ["x"])  # raises the namedtuple error
        arrays = x if isinstance(x, dict) else x
        sample = {k: data_adapter.to_array(v, k) for k, v in arrays.items()} if isinstance(x, dict) \
            else ([data_adapter.to_array(a) for a in x] if isinstance(x, (list, tuple))
                  else data_adapter.to_array(x))
        sample = _cast_floats(sample)
        self._build_on_sample(sample)

    def _build_on_sample(self, sample):
        trace = Trace(f"{self.name}_build")
        flat = flatten(sample)
        with trace, training_scope(False):
            xs = [trace.input((None,) + a.shape[1:], _dtype_name(a), f"input_{i + 1}")
                  for i, a in enumerate(flat)]
            structure = pack_like(sample, xs) if isinstance(sample, (list, tuple, dict)) else xs[0]
            self._record_spec(structure)
            if isinstance(sample, dict):
                self._saved_spec = [(k, (None,) + tuple(sample[k].shape[1:]), _dtype_name(sample[k]))
                                    for k in sorted(sample)]
            Layer.__call__(self, structure)
        self.built = True

    def predict_on_batch(self, x):
        arrays = self._prepare_inputs(x)
        outs = self.make_predict_function()(arrays)
        return self._pack_outputs(outs)

    def _pack_outputs(self, outs):
        structure = getattr(self, "_output_structure", None)
        if structure is None or not isinstance(structure, (list, tuple, dict)):
            return outs[0] if len(outs) == 1 else outs
        return pack_like(structure, outs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                max_queue_size=10, workers=1, use_multiprocessing=False):
        if getattr(self, "_distribute_strategy", None) is not None:  # gk.distribute runs it
            arguments = dict(locals())
            from graphkeras.engine.trainer import _distributed
            return _distributed("predict", self, arguments)
        if x is None:
            raise ValueError("Unexpected value for `x`: None. Pass the data to predict on.")
        verbose = 1 if verbose == "auto" else verbose
        if data_adapter.is_generator_like(x):
            batches = (self._prepare_inputs(unpack_x_y_sample_weight(b)[0])
                       for b in data_adapter.generator_batches(x, steps))
            total = len(x) if hasattr(x, "__len__") else steps
        else:
            if batch_size is None:
                batch_size = 32
            arrays = self._prepare_inputs(x, many_batches=True)
            n = data_adapter.num_samples(arrays)
            if n == 0:
                raise ValueError("Expected input data to be non-empty: `x` has 0 samples.")
            batches = data_adapter.array_batches(arrays, batch_size, steps)
            specs = self._input_specs()
            if any(shape and shape[0] is not None for _, shape, _ in specs):  # a fixed batch size
                batches = (data_adapter.check_and_cast(b, specs, self.name) for b in batches)
            total = -(-n // batch_size) if steps is None else min(steps, -(-n // batch_size))
        from graphkeras import callbacks as callbacks_mod
        fn = self.make_predict_function()
        if not isinstance(callbacks, callbacks_mod.CallbackList):
            callbacks = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                                   verbose=verbose, epochs=1, steps=total)
        callbacks.on_predict_begin()
        chunks = []
        for step, arrays in enumerate(batches):
            callbacks.on_predict_batch_begin(step)
            chunks.append(fn(arrays))
            callbacks.on_predict_batch_end(step, {"outputs": self._pack_outputs(chunks[-1])})
        if not chunks:
            raise ValueError("Unexpected result of `predict_function` (Empty batch_outputs): the "
                             "data produced no batches. Pass non-empty data.")
        callbacks.on_predict_end()
        outs = [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(chunks[0]))]
        return self._pack_outputs(outs)

    # ------------------------------------------------------------ misc API
    def reset_states(self):
        for layer in self.layers:
            if hasattr(layer, "reset_states") and getattr(layer, "stateful", False):
                layer.reset_states()

    @property
    def stateful(self):
        return any(getattr(layer, "stateful", False) for layer in self.layers)

    def save_spec(self, dynamic_batch=True):
        specs = self._input_specs()
        if specs is None:
            return None
        from graphkeras.utils.tensor_spec import TensorSpec
        out = [TensorSpec(shape if dynamic_batch else shape, dtype, name) for name, shape, dtype in specs]
        return ((out[0] if len(out) == 1 else out,), {})

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from graphkeras.engine.summary import print_summary
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first by calling "
                             "`build()` or by calling the model on a batch of data.")
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def get_config(self):
        from graphkeras.engine.functional import Functional
        if isinstance(self, Functional) or getattr(self, "_replay", None) is not None:
            return Functional.get_config(self)
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from graphkeras.engine.functional import Functional, reconstruct_from_config
        if "layers" in config and "input_layers" in config:
            inputs, outputs, name = reconstruct_from_config(config, custom_objects)
            if cls is Model or cls is Functional:
                return Functional(inputs=inputs, outputs=outputs, name=name)
            return cls(inputs=inputs, outputs=outputs, name=name)
        return cls(**config)

    # ------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None,
             signatures=None, options=None, save_traces=True):
        from graphkeras import saving
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer,
                          save_format=save_format)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        from graphkeras import saving
        saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, options=None):
        from graphkeras import saving
        return saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs):
        from graphkeras.models.serialization import model_to_dict
        return json.dumps(model_to_dict(self), **kwargs)

    def to_yaml(self, **kwargs):
        raise RuntimeError(
            "Method `model.to_yaml()` has been removed due to security risk of arbitrary code "
            "execution. Please use `model.to_json()` instead.")

    def _get_compile_args(self):
        return getattr(self, "_compile_config", {})


def _dtype_name(x):
    dtype = np.dtype(getattr(x, "dtype", "float32"))
    return "float32" if dtype.kind == "f" else dtype.name


def _cast_floats(sample):
    if isinstance(sample, dict):
        return {k: _cast_floats(v) for k, v in sample.items()}
    if isinstance(sample, (list, tuple)):
        return type(sample)(_cast_floats(v) for v in sample)
    return sample.astype(np.float32) if sample.dtype.kind == "f" and sample.dtype != np.float32 else sample


def unpack_x_y_sample_weight(data):
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` -> the three parts."""
    if data_adapter.is_namedtuple(data):
        data_adapter.flatten_inputs(data, ["x"])
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found: {data}")
