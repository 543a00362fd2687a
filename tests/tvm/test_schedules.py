"""Default CPU schedules (runtime/tvm_schedules.py) for the kernels of a TVM build.

The kernels of a small CNN's train step (convolution and its two gradients, matrix
products in the three layouts our lowering emits, pooling, column sums, Adam's
elementwise updates, log-softmax) are scheduled by the rules, for a symbolic and a
static batch. Each scheduled kernel computes what the unscheduled one computes (NaNs
included), the matrix products and convolutions take the tiled rule, and the
schedules have parallel and vectorized loops. A kernel already scheduled (a tuning
record) keeps its schedule; a jit-compiled model still equals its numpy run.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphkeras as gk

tvm = pytest.importorskip("tvm", reason="apache-tvm is not installed (pip install graphkeras[tvm])")

from graphkeras.runtime import tvm_executor, tvm_schedules  # noqa: E402


def _cnn():
    model = gk.Sequential([
        gk.layers.Conv2D(16, 3, activation="relu", input_shape=(10, 10, 2)),
        gk.layers.MaxPooling2D(2),
        gk.layers.Conv2D(8, 3, activation="relu"),
        gk.layers.Flatten(),
        gk.layers.Dense(24, activation="relu"),
        gk.layers.Dense(5),
    ])
    model.compile(optimizer=gk.optimizers.Adam(0.01),
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _data(n=13):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 10, 10, 2)).astype(np.float32), rng.integers(0, 5, n)


@pytest.fixture(scope="module")
def step_graph():
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    model = _cnn()
    x, y = _data()
    model.train_on_batch(x, y)  # (ONNX Runtime: only the traced step graph is needed)
    return model._steps[next(k for k, s in model._steps.items() if s.kind == "train")].graph


def _kernels(graph, batch):
    target = tvm_executor.default_target()
    mod = tvm_executor.lower_module(graph, batch)
    with target:
        mod = tvm_executor._fused(mod)
    return target, {gv.name_hint: f for gv, f in mod.functions_items()
                    if isinstance(f, tvm.tirx.PrimFunc)}


def _schedule(func, target):
    """(the rule that took ``func``, the scheduled function)"""
    with target:
        for rule in tvm_schedules.cpu_rules():
            sch = rule.apply(func, target, False)
            if sch is not None:
                return type(rule).__name__, sch.mod["main"]
    return None, func


def _arguments(func, n, rng, nans=False):
    arrays = []
    for param in func.params:
        shape = [int(s) if isinstance(s, tvm.tirx.IntImm) else n for s in param.shape]
        dtype = str(param.dtype)
        if dtype.startswith("float"):
            a = rng.normal(size=shape).astype(dtype)
            if nans and a.size > 4:
                a.reshape(-1)[::7] = np.nan
        elif dtype == "bool":
            a = rng.random(shape) > 0.5
        else:
            a = rng.integers(0, 5, shape).astype(dtype)
        arrays.append(a)
    return arrays


def _build(funcs, target):
    mod = tvm.IRModule({name: f.with_attr("global_symbol", name) for name, f in funcs.items()})
    return tvm.compile(mod, target=target).jit()


@pytest.fixture(autouse=True)
def _always_parallel(monkeypatch):
    # the test kernels are small: let every one take its parallel schedule
    monkeypatch.setattr(tvm_schedules, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(tvm_schedules, "PARALLEL_MIN_MACS", 0)


@pytest.mark.parametrize("batch", [None, 16])
def test_scheduled_kernels_compute_what_the_plain_ones_do(step_graph, batch):
    target, kernels = _kernels(step_graph, batch)
    kernels = {n: f for n, f in kernels.items()  # (the kinds of kernel: fewer to build)
               if any(k in n for k in ("conv", "matmul", "pool", "sum", "sqrt", "softmax",
                                       "reshape", "greater"))}
    rules, scheduled = {}, {}
    for name, func in kernels.items():
        rules[name], scheduled[name] = _schedule(func, target)
    assert all(rules.values()), [n for n, r in rules.items() if r is None]
    # the convolution, its gradients and the matrix products in all layouts: tiled
    tiled = [n for n in kernels if "conv" in n or "matmul" in n]
    assert len(tiled) >= 6, sorted(kernels)
    assert any("matmul_nt" in n for n in tiled) and any("matmul_tn" in n for n in tiled)
    assert any("kernel_grad" in n for n in tiled) and any("input_grad" in n for n in tiled)
    assert {rules[n] for n in tiled} == {"Contraction"}, {n: rules[n] for n in tiled}

    plain, fast = _build(kernels, target), _build(scheduled, target)
    n = 13 if batch is None else batch  # (13: rows not a multiple of the row tile)
    dev = tvm.cpu(0)
    for name in kernels:
        for nans in (False, True):
            arrays = _arguments(kernels[name], n, np.random.default_rng(1), nans=nans)
            outs = []
            for lib in (plain, fast):
                tensors = [tvm.runtime.tensor(a, dev) for a in arrays]
                lib[name](*tensors)
                outs.append(tensors[-1].numpy())
            np.testing.assert_allclose(outs[1], outs[0], rtol=2e-5, atol=2e-5, equal_nan=True,
                                       err_msg=f"{name} (NaNs: {nans})")


def _loops(func) -> str:
    return func.script()


def test_schedules_are_parallel_and_vectorized(step_graph):
    target, kernels = _kernels(step_graph, None)
    lanes = tvm_schedules.vector_lanes(target)
    assert lanes >= 4
    picks = {
        "matmul": next(n for n in kernels if n.startswith("fused_matmul") and "relu" in n),
        "conv": next(n for n in kernels if n.startswith("fused_conv") and "relu" in n),
        "elementwise": next(n for n in kernels if "sqrt" in n and "subtract" in n
                            and len(kernels[n].params[0].shape) == 4),  # (Adam, a kernel)
        "pooling": "max_pool",
    }
    for kind, name in picks.items():
        rule, func = _schedule(kernels[name], target)
        text = _loops(func)
        assert "T.vectorized(" in text, (kind, text)
        assert "T.parallel(" in text, (kind, text)
        if kind in ("matmul", "conv"):
            assert rule == "Contraction"
            assert 'scope="local"' in text  # (accumulated in a register tile)
            assert "T.unroll(" in text
    # a column sum (the bias gradient): vectorized along the output
    column = next(n for n in kernels if n.startswith("sum") and
                  len(kernels[n].params[-1].shape) == 1 and len(kernels[n].params[0].shape) == 2)
    assert "T.vectorized(" in _schedule(kernels[column], target)[1].script()


def test_vector_width_follows_the_target():
    avx512 = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
    avx2 = tvm.target.Target({"kind": "llvm", "mcpu": "haswell"})
    assert tvm_schedules.vector_lanes(avx512) == 16
    assert tvm_schedules.vector_lanes(avx2) == 8
    assert tvm_schedules.vector_lanes(avx2, 64) == 4


def test_tuned_kernels_keep_their_schedule(step_graph):
    target, kernels = _kernels(step_graph, 16)
    name = next(n for n in kernels if n.startswith("fused_matmul") and "relu" in n)
    tuned = kernels[name].with_attr("tirx.is_scheduled", True)
    mod = tvm.IRModule({name: tuned, "other": kernels[name]})
    with target:
        out = tvm_schedules.apply_default_schedules(mod, target)
    assert out[name].same_as(tuned)
    assert "T.parallel(" in out["other"].script()
    # a CUDA module is not the CPU rules' business
    cuda = tvm.target.Target("cuda")
    assert tvm_schedules.apply_default_schedules(mod, cuda) is mod


def test_schedules_change_the_cache_key(monkeypatch):
    from pathlib import Path
    path = Path(tvm_schedules.__file__).resolve()
    monkeypatch.setattr(tvm_executor, "_SOURCES_HASH", None)
    before = tvm_executor._sources_hash()
    original = Path.read_bytes

    def edited(self):  # the rules' source, as if someone changed it
        data = original(self)
        return data + b"\n# edited\n" if self.resolve() == path else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    monkeypatch.setattr(tvm_executor, "_SOURCES_HASH", None)
    assert tvm_executor._sources_hash() != before


def test_jit_model_equals_numpy():
    # (training on TVM against numpy and ONNX Runtime: test_models_tvm.py)
    model = _cnn()
    x, _ = _data(11)
    model.compile(**dict(model._compile_config, jit_compile=True))
    fast = model.predict(x, batch_size=11, verbose=0)
    model.run_eagerly = True
    eager = model.predict(x, batch_size=11, verbose=0)
    np.testing.assert_allclose(fast, eager, rtol=1e-4, atol=1e-5)
