"""Execution providers: order and options (anywhere), and CUDA/TensorRT results (GPU only)."""
import json
import os

import numpy as np
import onnxruntime as ort
import pytest

import graphkeras as gk
from graphkeras.cli import main
from graphkeras.runtime import providers as P

TRT, CUDA, CPU = P.TENSORRT, P.CUDA, P.CPU
AVAILABLE = ort.get_available_providers()


@pytest.fixture
def fake_gpu_build(monkeypatch):
    """An onnxruntime that claims TensorRT and CUDA (sessions still run on the CPU)."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    yield
    P.set_providers(None)


def test_order_cuda_follows_tensorrt_and_cpu_is_last():
    everything = [TRT, CUDA, CPU]
    assert P._ordered([TRT], everything) == [TRT, CUDA, CPU]
    assert P._ordered([TRT], [TRT, CPU]) == [TRT, CPU]  # no CUDA in the build
    assert P._ordered([CPU, CUDA], everything) == [CUDA, CPU]
    assert P._ordered([TRT, CUDA, TRT], everything) == [TRT, CUDA, CPU]
    assert P._ordered([], everything) == [CPU]


def test_tensorrt_options_name_an_engine_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHKERAS_TRT_CACHE", str(tmp_path / "trt"))
    options = P.provider_options(TRT)
    assert options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert options["trt_timing_cache_enable"] == "True"
    assert P.provider_options(CUDA) == {} and P.provider_options(CPU) == {}
    assert not os.path.exists(tmp_path / "trt")
    pairs = P.session_providers([TRT, CUDA, CPU])
    assert [name for name, _ in pairs] == [TRT, CUDA, CPU] and pairs[0][1] == options
    assert os.path.isdir(tmp_path / "trt")  # created when a session is about to use it


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHKERAS_TRT_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert P.trt_cache_dir() == str(tmp_path / ".cache" / "graphkeras" / "trt")


def test_set_providers_and_environment(fake_gpu_build, monkeypatch):
    gk.config.set_providers(["tensorrt"])
    assert gk.config.get_providers() == [TRT, CUDA, CPU]
    assert P.device_of(gk.config.get_providers()) == "cuda"
    gk.config.set_providers(None)
    monkeypatch.setenv("GRAPHKERAS_PROVIDERS", "trt,cpu")
    assert gk.config.get_providers() == [TRT, CUDA, CPU]
    monkeypatch.setenv("GRAPHKERAS_PROVIDERS", "cpu")
    assert gk.config.get_providers() == [CPU]


def test_unavailable_provider_is_a_clear_error(capsys, tmp_path):
    if CUDA in AVAILABLE:
        pytest.skip("this onnxruntime build has CUDA")
    with pytest.raises(ValueError, match="graphkeras\\[gpu\\]"):
        gk.config.set_providers(["cuda"])
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "o"),
                 "--provider", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDAExecutionProvider" in err


def test_cli_provider_passes_through_to_sessions(fake_gpu_build, monkeypatch, tmp_path):
    """--provider tensorrt: the self-check sessions get TensorRT (with its cache), then CUDA,
    then CPU; the choice lasts one command."""
    monkeypatch.setenv("GRAPHKERAS_TRT_CACHE", str(tmp_path / "cache"))
    seen = []
    real = ort.InferenceSession

    def recording(path, options=None, providers=None, **kwargs):
        seen.append(providers)
        return real(path, options, providers=[CPU], **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    model = gk.Sequential([gk.layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.h5")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "out"),
                 "--provider", "tensorrt"]) == 0
    trt_options = {"trt_engine_cache_enable": "True",
                   "trt_engine_cache_path": str(tmp_path / "cache"),
                   "trt_timing_cache_enable": "True",
                   "trt_timing_cache_path": str(tmp_path / "cache")}
    assert len(seen) == 4  # predict, predict_from_state, train and test step
    assert all(p == [(TRT, trt_options), (CUDA, {}), (CPU, {})] for p in seen)
    with open(tmp_path / "out" / "manifest.json") as f:
        assert json.load(f)["providers"] == [TRT, CUDA, CPU]
    assert gk.config.get_providers() == [CPU]


# ------------------------------------------------------------------ on a GPU
needs_cuda = pytest.mark.skipif(CUDA not in AVAILABLE, reason="CUDAExecutionProvider is not "
                                "available (needs onnxruntime-gpu, `pip install graphkeras[gpu]`, "
                                "and a CUDA device)")
needs_trt = pytest.mark.skipif(TRT not in AVAILABLE, reason="TensorrtExecutionProvider is not "
                               "available (needs onnxruntime-gpu with TensorRT)")


def _train(providers, x, y):
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    gk.config.set_providers(providers)
    try:
        model = gk.Sequential([gk.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                               gk.layers.MaxPooling2D(2), gk.layers.Flatten(),
                               gk.layers.Dense(3)])
        model.compile(optimizer="adam",
                      loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
        losses = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        return losses, model.get_weights(), model.predict(x, verbose=0)
    finally:
        gk.config.set_providers(None)


@needs_cuda
@pytest.mark.parametrize("provider", ["cuda", pytest.param("tensorrt", marks=needs_trt)])
def test_gpu_training_and_predict_equal_cpu(provider, rng, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHKERAS_TRT_CACHE", str(tmp_path / "trt"))
    x = rng.standard_normal((32, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    cpu = _train(["cpu"], x, y)
    gpu = _train([provider], x, y)
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-3)
    for a, b in zip(gpu[1], cpu[1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu[2], cpu[2], rtol=1e-3, atol=1e-4)
    if provider == "tensorrt":
        assert os.listdir(tmp_path / "trt")  # engines were cached


@needs_cuda
def test_cli_compile_checks_on_cuda(tmp_path):
    model = gk.Sequential([gk.layers.Dense(4, activation="relu", input_shape=(3,)),
                           gk.layers.Dense(2)])
    model.compile("adam", "mse")
    model.save(tmp_path / "m.h5")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "out"),
                 "--provider", "cuda"]) == 0
