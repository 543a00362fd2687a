"""Which ONNX Runtime execution providers graphkeras sessions use.

The choice lives here only: no layer, loss or trainer asks which device runs.
Set it with ``gk.config.set_providers([...])`` or the environment variable
``GRAPHKERAS_PROVIDERS`` (comma separated, e.g. ``cuda,cpu``).
"""
from __future__ import annotations

import os

import onnxruntime as ort

ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
_chosen: list[str] | None = None


def _canonical(name: str) -> str:
    return ALIASES.get(name.strip().lower(), name.strip())


def set_providers(providers) -> None:
    """Choose execution providers, most preferred first (CPU is always appended)."""
    global _chosen
    if providers is None:
        _chosen = None
        return
    names = [_canonical(p) for p in ([providers] if isinstance(providers, str) else providers)]
    available = ort.get_available_providers()
    missing = [p for p in names if p not in available]
    if missing:
        raise ValueError(f"Execution provider(s) {missing} are not available in this onnxruntime "
                         f"build (available: {available}). For CUDA/TensorRT install "
                         "`pip install graphkeras[gpu]`.")
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")
    _chosen = names


def get_providers() -> list[str]:
    if _chosen is not None:
        return list(_chosen)
    env = os.environ.get("GRAPHKERAS_PROVIDERS")
    if env:
        names = [_canonical(p) for p in env.split(",") if p.strip()]
        available = ort.get_available_providers()
        names = [p for p in names if p in available]
        if "CPUExecutionProvider" not in names:
            names.append("CPUExecutionProvider")
        return names
    return ["CPUExecutionProvider"]


def device_of(providers: list[str]) -> str:
    """The device OrtValues live on for these providers ('cuda' or 'cpu')."""
    return "cuda" if providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu"
