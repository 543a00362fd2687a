"""Running a compiled graph: one ONNX Runtime session, state bound once."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from graphkeras.runtime.providers import device_of, get_providers
from graphkeras.runtime.state import DeviceState


class GraphExecutor:
    """One ONNX graph in one ``InferenceSession``.

    ``state_inputs`` maps graph input names to keys of ``state``. Two ways to
    hold them, both without copying weights per call:

    * bound (default): bound once with IOBinding to the resident OrtValues, so
      in-place updates (training) are seen by the next call;
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
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self._threads:
            options.intra_op_num_threads = self._threads
        model_bytes = self._model_bytes
        if self.frozen:
            model_bytes = freeze_inputs(model_bytes, {name: self.state.get(key) for name, key
                                                      in self.state_inputs.items()})
            self._seen_revision = self.state.revision
            self._seen = [self.state.revisions[k] for k in self.state_inputs.values()]
        self.session = ort.InferenceSession(model_bytes, options, providers=self.providers)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._binding = self.session.io_binding()
        self._bound_version = None
        self._bound_shapes = None

    def _bind_state(self):
        if not self.frozen:
            for name, key in self.state_inputs.items():
                self._binding.bind_ortvalue_input(name, self.state.values[key])
        self._bound_version = self.state.version

    def _stale(self) -> bool:
        """Frozen weights changed since the session was built?"""
        state = self.state
        if state.revision == self._seen_revision:
            return False
        self._seen_revision = state.revision
        return [state.revisions[k] for k in self.state_inputs.values()] != self._seen

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if self.frozen and self._stale():
            self._open()
        if self._bound_version != self.state.version:
            self._bind_state()
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


def freeze_inputs(model_bytes: bytes, values: dict[str, np.ndarray]) -> bytes:
    """The same ONNX model with the named graph inputs turned into initializers."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    kept = [i for i in graph.input if i.name not in values]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(np.asarray(a), n) for n, a in values.items())
    return model.SerializeToString()
