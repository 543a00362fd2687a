"""Execution: ONNX Runtime sessions, providers, device-resident state."""
from graphkeras.runtime.providers import get_providers, set_providers  # noqa: F401
from graphkeras.runtime.state import DeviceState  # noqa: F401
from graphkeras.runtime.executor import GraphExecutor  # noqa: F401
