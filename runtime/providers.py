"""Which ONNX Runtime execution providers graphkeras sessions use.

The choice lives here only: no layer, loss or trainer asks which device runs.
Set it with ``gk.config.set_providers([...])`` or the environment variable
``GRAPHKERAS_PROVIDERS`` (comma separated, e.g. ``cuda,cpu``).

Order: the providers asked for, most preferred first; TensorRT is followed by
CUDA (when the build has it) so that nodes TensorRT lacks run on CUDA, and CPU
always comes last. Sessions get per-provider options from
:func:`session_providers`: TensorRT keeps its engine and timing caches in
``GRAPHKERAS_TRT_CACHE`` (default ``~/.cache/graphkeras/trt``), so a second run
does not rebuild its engines.
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
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
_chosen: list[str] | None = None


def _canonical(name: str) -> str:
    return ALIASES.get(name.strip().lower(), name.strip())


def set_providers(providers) -> None:
    """Choose execution providers, most preferred first (CUDA follows TensorRT; CPU is last)."""
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
    _chosen = _ordered(names, available)


def get_providers() -> list[str]:
    if _chosen is not None:
        return list(_chosen)
    env = os.environ.get("GRAPHKERAS_PROVIDERS")
    if env:
        names = [_canonical(p) for p in env.split(",") if p.strip()]
        available = ort.get_available_providers()
        return _ordered([p for p in names if p in available], available)
    return [CPU]


def _ordered(names, available) -> list[str]:
    """``names`` without repeats, CUDA after TensorRT (when available), CPU last."""
    out = []
    for name in names:
        if name != CPU and name not in out:
            out.append(name)
        if name == TENSORRT and CUDA in available and CUDA not in names:
            out.append(CUDA)
    return out + [CPU]


def trt_cache_dir() -> str:
    """Where TensorRT keeps its engines: ``GRAPHKERAS_TRT_CACHE`` or ``~/.cache/graphkeras/trt``."""
    return os.environ.get("GRAPHKERAS_TRT_CACHE") or \
        os.path.join(os.path.expanduser("~"), ".cache", "graphkeras", "trt")


def provider_options(name: str) -> dict:
    """The session options graphkeras gives provider ``name`` (strings, as ORT takes them)."""
    if name == TENSORRT:
        path = trt_cache_dir()
        return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": path,
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": path}
    return {}


def session_providers(providers=None) -> list[tuple[str, dict]]:
    """``(name, options)`` pairs for ``ort.InferenceSession(providers=...)``: the chosen
    providers (or ``providers``), each with :func:`provider_options` (the TensorRT cache
    folder is created here)."""
    out = []
    for name in get_providers() if providers is None else list(providers):
        options = provider_options(name)
        if name == TENSORRT:
            os.makedirs(options["trt_engine_cache_path"], exist_ok=True)
        out.append((name, options))
    return out


def device_of(providers: list[str]) -> str:
    """The device OrtValues live on for these providers ('cuda' or 'cpu')."""
    return "cuda" if providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu"
