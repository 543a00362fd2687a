"""Running compiled graphs on ONNX Runtime with the state resident on the device.

:class:`GraphExecutor` runs inference and test graphs; :class:`StepExecutor`
runs training steps, whose graphs return new state. Neither copies weights per
call: state is bound by reference with IOBinding.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from graphkeras.runtime.providers import device_of, get_providers, session_providers
from graphkeras.runtime.state import DeviceState


def open_session(model_bytes: bytes, providers: list[str], threads: int = 0):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model_bytes, options, providers=session_providers(providers))


class GraphExecutor:
    """One ONNX graph in one ``InferenceSession``.

    ``state_inputs`` maps graph input names to keys of ``state``. Two ways to
    hold them, both without copying weights per call:

    * bound (default): bound with IOBinding to the resident OrtValues, so
      in-place updates are seen by the next call (rebound only after the state
      was written elsewhere, e.g. by training steps);
    * frozen (``frozen=True``, for inference): their current values become
      initializers of the session's graph, so ONNX Runtime can prepack and
      constant-fold them (faster matrix products). A write to any of them
      rebuilds the session on the next call.
    """

    def __init__(self, model_bytes: bytes, data_inputs: list[str], state_inputs: dict[str, str],
                 state: DeviceState, providers: list[str] | None = None, threads: int = 0,
                 frozen: bool = False):
        self.providers = providers or get_providers()
        self.device = device_of(self.providers)
        self.data_inputs = list(data_inputs)
        self.state_inputs = dict(state_inputs)
        self.state = state
        self.frozen = frozen
        self._model_bytes = model_bytes
        self._threads = threads
        self._open()

    def _open(self):
        model_bytes = self._model_bytes
        state = self.state
        if self.frozen:
            model_bytes = freeze_inputs(model_bytes, {name: state.get(key) for name, key
                                                      in self.state_inputs.items()})
            self._seen = [state.revision_of(k) for k in self.state_inputs.values()]
        self._seen_revision = state.revision
        self.session = open_session(model_bytes, self.providers, self._threads)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._binding = self.session.io_binding()
        self._bound_revision = None
        self._bound_shapes = None

    def _refresh(self):
        """Bring the session up to date with the state, if anything wrote to it."""
        state = self.state
        if self.frozen:
            if [state.revision_of(k) for k in self.state_inputs.values()] != self._seen:
                self._open()
            self._seen_revision = state.revision
            return
        for name, key in self.state_inputs.items():
            self._binding.bind_ortvalue_input(name, state.value(key))
        self._bound_revision = self._seen_revision = state.revision

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self.state.revision != self._seen_revision or \
                (not self.frozen and self._bound_revision is None):
            self._refresh()
        binding = self._binding
        shapes = [a.shape for a in arrays]
        if shapes != self._bound_shapes:
            # outputs allocated by the last run have its batch size: let ORT allocate anew
            binding.clear_binding_outputs()
            for name in self.output_names:
                binding.bind_output(name, self.device)
            self._bound_shapes = shapes
        for name, array in zip(self.data_inputs, arrays):
            binding.bind_cpu_input(name, array)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


class StepExecutor:
    """A training step: reads state, writes new state, returns logs.

    ``state_inputs`` / ``state_outputs`` map graph input / output names to state
    keys. The executor owns the keys it writes (see :mod:`.state`): two
    IOBindings, one per parity, read one buffer of each key and write the other,
    so a step binds only the data and flips a bit. Logs (loss, metrics) stay on
    the device until :meth:`logs` is called.
    """

    def __init__(self, model_bytes: bytes, data_inputs: list[str], state_inputs: dict[str, str],
                 state_outputs: dict[str, str], log_outputs: list[str], state: DeviceState,
                 providers: list[str] | None = None, threads: int = 0):
        self.providers = providers or get_providers()
        self.device = device_of(self.providers)
        self.data_inputs = list(data_inputs)
        self.state_inputs = dict(state_inputs)
        self.state_outputs = dict(state_outputs)
        self.log_outputs = list(log_outputs)
        self.state = state
        self.parity = 0
        self.steps = 0
        self.session = open_session(model_bytes, self.providers, threads)
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        unknown = (set(self.data_inputs) | set(self.state_inputs)) - inputs | \
            ((set(self.state_outputs) | set(self.log_outputs)) - outputs)
        if unknown:
            raise ValueError(f"StepExecutor: names {sorted(unknown)} are not inputs/outputs of the "
                             "step graph.")
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        types = {o.name: o.type for o in self.session.get_outputs()}
        self._logs = [ort.OrtValue.ortvalue_from_numpy(
            np.zeros([d if isinstance(d, int) else 1 for d in shapes[n]], _NP_TYPES[types[n]]),
            self.device, 0) for n in self.log_outputs]
        self._bound_version = None

    def _bind(self):
        state = self.state
        written = sorted(set(self.state_outputs.values()))
        state.own(written, self)
        self._bindings = []
        for parity in (0, 1):
            binding = self.session.io_binding()
            for name, key in self.state_inputs.items():
                slot = state.slots[key]
                value = slot.buffers[parity] if slot.owner is self else slot.current
                binding.bind_ortvalue_input(name, value)
            for name, key in self.state_outputs.items():
                binding.bind_ortvalue_output(name, state.slots[key].buffers[1 - parity])
            for name, value in zip(self.log_outputs, self._logs):
                binding.bind_ortvalue_output(name, value)
            self._bindings.append(binding)
        self._bound_version = state.version

    def release(self, keys):
        """Another executor takes some of our keys: give them back, rebind later."""
        self.state.disown(keys, self)
        self._bound_version = None

    def close(self):
        self.state.disown(list(self.state_outputs.values()), self)
        self._bound_version = None

    def __call__(self, arrays: list[np.ndarray]) -> None:
        if self._bound_version != self.state.version:
            self._bind()
        binding = self._bindings[self.parity]
        for name, array in zip(self.data_inputs, arrays):
            binding.bind_cpu_input(name, array)
        self.session.run_with_iobinding(binding)
        self.parity ^= 1
        self.steps += 1
        self.state.revision += 1

    def logs(self) -> list[np.ndarray]:
        """The last step's log outputs (loss, metric results), copied to the host."""
        return [v.numpy() for v in self._logs]


_NP_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16}


def freeze_inputs(model_bytes: bytes, values: dict[str, np.ndarray]) -> bytes:
    """The same ONNX model with the named graph inputs turned into initializers."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    kept = [i for i in graph.input if i.name not in values]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(np.asarray(a), n) for n, a in values.items())
    return model.SerializeToString()
