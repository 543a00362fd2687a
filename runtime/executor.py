"""Running a compiled graph: one ONNX Runtime session, state bound once."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from graphkeras.runtime.providers import device_of, get_providers
from graphkeras.runtime.state import DeviceState


class GraphExecutor:
    """One ONNX graph in one ``InferenceSession``.

    ``state_inputs`` maps graph input names to keys of ``state``: those inputs
    are bound once with IOBinding to the resident OrtValues (rebound only when
    the state's buffers are replaced), so a call moves only the data inputs
    and outputs.
    """

    def __init__(self, model_bytes: bytes, data_inputs: list[str], state_inputs: dict[str, str],
                 state: DeviceState, providers: list[str] | None = None, threads: int = 0):
        self.providers = providers or get_providers()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model_bytes, options, providers=self.providers)
        self.device = device_of(self.providers)
        self.data_inputs = list(data_inputs)
        self.state_inputs = dict(state_inputs)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.state = state
        self._binding = self.session.io_binding()
        self._bound_version = None
        self._bound_shapes = None

    def _bind_state(self):
        for name, key in self.state_inputs.items():
            self._binding.bind_ortvalue_input(name, self.state.values[key])
        self._bound_version = self.state.version

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
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
