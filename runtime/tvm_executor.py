"""Running graphs compiled by Apache TVM (``jit_compile=True``).

A graph is lowered to a Relax module (:mod:`graphkeras.compiler.lower_relax`),
built for the host CPU with LLVM (CUDA when asked for and present) and run by
the Relax virtual machine. One module serves every batch size (the batch axis
is a symbolic dimension).

State (weights, optimizer slots, metric accumulators) stays resident as TVM
tensors in a :class:`TVMState`, which offers the interface of
:class:`graphkeras.runtime.state.DeviceState` that variables use, so
``var.numpy()`` and ``var.assign()`` work as with ONNX Runtime. A training step
(:class:`TVMStepExecutor`) passes the tensors it holds to the VM and keeps the
new state tensors the VM returns for the next step: no copies of weights per
step, and the logs stay on the device until :meth:`TVMStepExecutor.logs`.

Compiled libraries are cached on disk (``GRAPHKERAS_TVM_CACHE``, default
``~/.cache/graphkeras/tvm``), keyed by a hash of the graph's IR JSON, the
target and the compiler's sources, so a second run of the same graph starts
fast. :func:`tune` tunes a graph with MetaSchedule and records the schedules in
the cache's tuning database, which later builds apply.

TVM is imported lazily: without it, :func:`require_tvm` raises an error that
says ``pip install graphkeras[tvm]``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import types
from pathlib import Path

import numpy as np

from graphkeras.compiler.ir import Graph, graph_to_json
from graphkeras.compiler.passes.specialize import open_scan_lengths, specialize

INSTALL_HINT = ("`jit_compile=True` compiles with Apache TVM, which is not installed. Install it "
                "with `pip install graphkeras[tvm]`, or compile with `jit_compile=False` "
                "(ONNX Runtime).")


def require_tvm():
    """The ``tvm`` module, or an ImportError saying how to install it."""
    try:
        import tvm
        from tvm import relax  # noqa: F401
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    from graphkeras.runtime.tvm_schedules import use_all_cores
    use_all_cores()  # (before TVM starts its thread pool)
    return tvm


def available() -> bool:
    try:
        require_tvm()
    except ImportError:
        return False
    return True


# -------------------------------------------------------------------- targets
def default_target():
    """LLVM for the host CPU; CUDA when ``GRAPHKERAS_TVM_TARGET=cuda`` (or ONNX Runtime's
    providers were set to CUDA) and a CUDA device is present."""
    tvm = require_tvm()
    choice = os.environ.get("GRAPHKERAS_TVM_TARGET", "").strip().lower()
    if not choice:
        from graphkeras.runtime.providers import device_of, get_providers
        choice = "cuda" if device_of(get_providers()) == "cuda" else "llvm"
    if choice == "cuda" and tvm.cuda(0).exist:
        return tvm.target.Target({"kind": "cuda", "arch": _cuda_arch(tvm)},
                                 host=_host_target(tvm))
    return _host_target(tvm)


def _host_target(tvm):
    from tvm.target import codegen
    return tvm.target.Target({"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu(),
                              "num-cores": _physical_cores()})


def _cuda_arch(tvm):
    major, minor = tvm.cuda(0).compute_version.split(".")
    return f"sm_{major}{minor}"


def _physical_cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover (not Linux)
        return max(os.cpu_count() or 1, 1)


def _as_target(target):
    tvm = require_tvm()
    if target is None:
        return default_target()
    if isinstance(target, str):
        if target in ("llvm", "cpu"):
            return _host_target(tvm)
        if target == "cuda":
            return tvm.target.Target({"kind": "cuda", "arch": _cuda_arch(tvm)},
                                     host=_host_target(tvm))
        return tvm.target.Target(json.loads(target) if target.startswith("{") else target)
    return target


def _device(target):
    tvm = require_tvm()
    return tvm.cuda(0) if target.kind.name == "cuda" else tvm.cpu(0)


# -------------------------------------------------------------------- cache
def cache_folder(path=None) -> Path | None:
    """The folder for compiled libraries and tuning records (``GRAPHKERAS_TVM_CACHE``,
    default ``~/.cache/graphkeras/tvm``); None when the variable is ``off`` (no disk cache)."""
    if path is None:
        path = os.environ.get("GRAPHKERAS_TVM_CACHE") or \
            os.path.join(os.path.expanduser("~"), ".cache", "graphkeras", "tvm")
    if str(path).lower() in ("off", "none", "0", "false"):
        return None
    return Path(path)


_SOURCES_HASH = None


def _sources_hash() -> str:
    """A hash of the code that decides what a graph compiles to (the lowering rules), so
    a cache entry never outlives a change of them."""
    global _SOURCES_HASH
    if _SOURCES_HASH is None:
        import graphkeras.compiler as compiler
        root = Path(compiler.__file__).parent
        h = hashlib.sha256()
        files = [root / "lower_relax.py", Path(__file__),
                 Path(__file__).with_name("tvm_schedules.py")] + list((root / "ops").glob("*.py"))
        for f in sorted(files):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _SOURCES_HASH = h.hexdigest()
    return _SOURCES_HASH


def graph_key(graph: Graph, target, batch_size: int | None = None, constants=None) -> str:
    tvm = require_tvm()
    h = hashlib.sha256()
    for part in (graph_to_json(graph), str(target), str(batch_size), tvm.__version__,
                 _sources_hash()):
        h.update(part.encode())
        h.update(b"\0")
    for name, array in sorted((constants or {}).items()):
        array = np.ascontiguousarray(array)
        h.update(f"{name}:{array.dtype}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()[:32]


def _tuning_dir(root: Path) -> Path:
    return root / "tuning"


def _database(root: Path):
    """The MetaSchedule database of ``root`` (None while nothing was tuned)."""
    folder = _tuning_dir(root)
    workloads, records = folder / "database_workload.json", folder / "database_tuning_record.json"
    if not records.exists() or records.stat().st_size == 0:
        return None
    from tvm.s_tir import meta_schedule as ms
    return ms.database.JSONDatabase(str(workloads), str(records), allow_missing=False)


# -------------------------------------------------------------------- building
_MEMORY: dict[str, "CompiledModule"] = {}
_LOCK = threading.Lock()


class CompiledModule:
    """A built graph: a Relax VM executable and the device it runs on."""

    def __init__(self, executable, target, graph: Graph, key: str, path: Path | None = None,
                 constants=None):
        self.executable = executable
        self.target = target
        self.key = key
        self.path = path
        inputs = [v for v in graph.inputs if v.name not in (constants or {})]  # (bound ones)
        self.input_names = [v.name for v in inputs]
        self.input_dtypes = [v.dtype for v in inputs]
        self.n_outputs = len(graph.outputs)
        self.device = _device(target)
        self._vm = None

    @property
    def vm(self):
        if self._vm is None:
            from tvm import relax
            self._vm = relax.VirtualMachine(self.executable, self.device)
        return self._vm

    def function(self):
        """The packed function running the graph: tensors in, a tuple of tensors out."""
        return self.vm["main"]

    def __call__(self, *arrays) -> list[np.ndarray]:
        """Run on numpy arrays (inputs in graph order); numpy outputs."""
        out = self.function()(*[to_tensor(a, self.device) for a in arrays])
        return [out[i].numpy() for i in range(self.n_outputs)]

    def export_library(self, path) -> str:
        """Write the compiled module as a shared library (load it with
        ``tvm.runtime.load_module`` and run it with ``tvm.relax.VirtualMachine``)."""
        path = str(path)
        if self.path is not None and self.path.exists():
            shutil.copyfile(self.path, path)
        else:
            self.executable.export_library(path)
        return path


def build_module(graph: Graph, target=None, tune_trials: int = 0, cache_dir=None,
                 batch_size: int | None = None, constants=None) -> CompiledModule:
    """Compile ``graph`` with TVM: from the in-process or on-disk cache when this graph
    was built before for this target, else lowered and built (applying the cache's
    MetaSchedule records), then cached. ``tune_trials`` > 0 tunes first (:func:`tune`).
    ``batch_size`` specializes the batch dimension (tuned schedules need static shapes).
    ``constants`` (``{input name: array}``) are bound into the module: it no longer takes
    those inputs (a library that carries its weights, as ``predict.onnx`` does)."""
    require_tvm()
    target = _as_target(target)
    if tune_trials:
        return tune(graph, tune_trials, cache_dir=cache_dir, target=target, batch_size=batch_size,
                    constants=constants)
    root = cache_folder(cache_dir)
    key = graph_key(graph, target, batch_size, constants)
    with _LOCK:
        module = _MEMORY.get(key)
        if module is not None:
            return module
        module = _load_cached(root, key, graph, target, constants) if root is not None else None
        if module is None:
            # tuning records are for static shapes: only a module without symbolic sizes
            # can use them
            static = batch_size is not None or all(None not in v.shape for v in graph.inputs)
            database = _database(root) if root is not None and static else None
            module = _build(graph, target, root, key, batch_size, database, constants)
        _MEMORY[key] = module
        return module


def _library_path(root: Path, key: str) -> Path:
    return root / f"{key}.so"


def _load_cached(root: Path, key: str, graph: Graph, target, constants=None):
    path = _library_path(root, key)
    if not path.exists():
        return None
    import tvm
    try:
        executable = tvm.runtime.load_module(str(path))
    except Exception:  # a broken or foreign file: rebuild
        return None
    return CompiledModule(executable, target, graph, key, path, constants)


def lower_module(graph: Graph, batch_size: int | None = None, constants=None):
    """The Relax IRModule of ``graph``, its batch dimension bound to ``batch_size`` if given
    and the inputs named in ``constants`` bound to those arrays."""
    from graphkeras.compiler.lower_relax import lower, relax_name
    mod = lower(graph, batch_size=batch_size)
    if constants:
        import tvm
        from tvm import relax
        params = {relax_name(name): tvm.runtime.tensor(np.array(array, order="C"))
                  for name, array in constants.items()}
        mod = relax.transform.BindParams("main", params)(mod)
    return mod


def _fused(mod):
    """Relax operators to TIR kernels, fused (the kernels :func:`tune` tunes are these, so
    builds and tuning must share this)."""
    import tvm
    from tvm import relax
    return tvm.transform.Sequential([
        relax.transform.FuseTransposeMatmul(),  # (the gradients' a^T @ g: one kernel)
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
        relax.transform.DeadCodeElimination(),
    ])(mod)


def _pipeline(target, database=None):
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="graphkeras_relax_pipeline")
    def pipeline(mod, ctx):
        with target:
            mod = _fused(mod)
            if database is not None:
                with database:
                    mod = relax.transform.MetaScheduleApplyDatabase()(mod)
            if target.kind.name == "cuda":
                from tvm.s_tir import dlight
                mod = dlight.ApplyDefaultSchedule(
                    dlight.gpu.Matmul(), dlight.gpu.GEMV(), dlight.gpu.Reduction(),
                    dlight.gpu.GeneralReduction(), dlight.gpu.Fallback())(mod)
            elif target.kind.name == "llvm":  # (kernels tuned above keep their schedules)
                from graphkeras.runtime.tvm_schedules import apply_default_schedules
                mod = apply_default_schedules(mod, target)
            mod = relax.pipeline.default_build_pipeline()(mod)
        return mod

    return pipeline


def _build(graph, target, root: Path, key: str, batch_size, database,
           constants=None) -> CompiledModule:
    import tvm
    mod = lower_module(graph, batch_size, constants)
    executable = tvm.compile(mod, target=target, relax_pipeline=_pipeline(target, database))
    path = _save(executable, root, key) if root is not None else None
    if path is not None:  # run what was saved, so the in-process and cached runs are the same
        loaded = _load_cached(root, key, graph, target, constants)
        if loaded is not None:
            return loaded
    return CompiledModule(executable, target, graph, key, constants=constants)


def _save(executable, root: Path, key: str) -> Path | None:
    """Write the library atomically; None if the cache cannot be written (no compiler,
    read-only folder): the module still runs, only the next process rebuilds it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=root)
        os.close(fd)
        executable.export_library(tmp)
        path = _library_path(root, key)
        os.replace(tmp, path)
        return path
    except Exception:
        try:
            os.unlink(tmp)
        except Exception:
            pass
        return None


def tune(graph: Graph, trials: int, cache_dir=None, target=None, batch_size: int | None = None,
         min_trials_per_task: int = 8, flop_share: float = 0.999,
         constants=None) -> CompiledModule:
    """MetaSchedule-tune ``graph``'s kernels for ``target`` with about ``trials`` trials in
    all, record the schedules in the cache's tuning database (later builds of any graph
    with the same kernels apply them), and return the tuned module (cached too).

    The trials go to the kernels doing most of the arithmetic (matrix products and
    convolutions first: those covering ``flop_share`` of the graph's operations, at most one
    per ``2 * min_trials_per_task`` trials), in proportion to their operations (at least
    ``min_trials_per_task`` each); the other kernels keep their default schedule.
    MetaSchedule tunes static shapes: a graph with an unknown batch dimension is tuned for
    ``batch_size`` (default 32); the tuned module is specialized to it, and executors run
    it for batches of that size (the module for every batch size serves the others)."""
    tvm = require_tvm()
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.analysis import estimate_tir_flops
    target = _as_target(target)
    root = cache_folder(cache_dir) or Path(tempfile.mkdtemp(prefix="graphkeras-tvm-"))
    if batch_size is None and any(v.shape and v.shape[0] is None for v in graph.inputs):
        batch_size = 32
    mod = lower_module(graph, batch_size, constants)
    with target:
        mod = _fused(mod)
    folder = _tuning_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    tasks = ms.relax_integration.extract_tasks(mod, target)
    _skip_foreign_intrinsics(target)
    chosen = _heaviest(tasks, estimate_tir_flops, max(int(trials) // (2 * min_trials_per_task), 1),
                       flop_share)
    database = ms.database.JSONDatabase(str(folder / "database_workload.json"),
                                        str(folder / "database_tuning_record.json"))
    if chosen:
        xgb = _has_xgboost()
        builder, runner = ms.builder.LocalBuilder(), ms.runner.LocalRunner()
        budgets = _budgets([cost for cost, _ in chosen], int(trials), min_trials_per_task)
        for (_, task), budget in zip(chosen, budgets):  # trials in proportion to the FLOPs
            with _foreign_log_handlers_detached():
                contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                    extracted_tasks=[task], work_dir=str(folder), seed=0,
                    strategy="evolutionary" if xgb else "replay-trace")
            ms.tune.tune_tasks(tasks=contexts, task_weights=weights, work_dir=str(folder),
                               max_trials_global=budget, max_trials_per_task=budget,
                               num_trials_per_iter=min(budget, 32), database=database,
                               builder=builder, runner=runner,
                               cost_model="xgb" if xgb else "random")
    key = graph_key(graph, target, batch_size, constants)
    with _LOCK:
        _MEMORY.pop(key, None)
        module = _build(graph, target, root, key, batch_size, database, constants)
        if chosen:
            # tuned records replace the default schedules of their kernels; with few trials
            # they can be slower: keep the module built without them when it runs faster
            plain = _build(graph, target, None, key, batch_size, None, constants)
            t_plain, t_tuned = _seconds_per_call([plain, module], graph, batch_size)
            if t_plain < t_tuned:
                path = _save(plain.executable, root, key)
                module = (_load_cached(root, key, graph, target, constants) if path else None) \
                    or plain
        _MEMORY[key] = module
    if batch_size is not None and module.path is not None and not constants:
        _record_tuned(root, graph, target, batch_size)
    return module


def _seconds_per_call(modules: list, graph: Graph, batch_size, rounds: int = 7) -> list:
    """Per module of ``graph``, the best time of a call on made-up inputs of the graph's
    shapes (unknown sizes: ``batch_size``), the modules timed in turn each round."""
    import time
    rng = np.random.default_rng(0)
    arrays = {}
    for v in graph.inputs:
        shape = tuple(batch_size or 1 if d is None else d for d in v.shape)
        arrays[v.name] = rng.standard_normal(shape).astype(v.dtype) \
            if v.dtype.startswith("float") else np.zeros(shape, v.dtype)
    calls = []
    for module in modules:  # (inputs bound into a module are not passed)
        args = [to_tensor(arrays[n], module.device) for n in module.input_names]
        fn = module.function()
        fn(*args)
        calls.append((fn, args))
    best = [float("inf")] * len(modules)
    for _ in range(rounds):
        for i, (fn, args) in enumerate(calls):
            t0 = time.perf_counter()
            fn(*args)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


@contextlib.contextmanager
def _foreign_log_handlers_detached():
    """MetaSchedule configures its loggers anew (``logging.config.dictConfig``) from a
    configuration naming their current handlers, and fails on handlers it did not make (a
    test runner's, an application's): those are taken off while it does, then put back."""
    import logging
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    foreign = [h for h in logger.handlers
               if not (h.get_name() or "").startswith("tvm.s_tir.meta_schedule")]
    for handler in foreign:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in foreign:
            logger.addHandler(handler)


def _skip_foreign_intrinsics(target) -> None:
    """MetaSchedule imports the tensor intrinsics of every architecture, which parses
    hundreds of TVMScript kernels (about 25 s, most for CUDA). For a CPU target only the
    host's are needed: the others are left out (in this process)."""
    import platform
    if target.kind.name != "llvm" or "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    machine = platform.machine().lower()
    keep = "x86" if machine in ("x86_64", "amd64", "i686") else \
        ("arm_cpu" if machine in ("aarch64", "arm64") else None)
    for name in ("cuda", "arm_cpu", "rocm", "hexagon", "riscv_cpu"):
        full = f"tvm.s_tir.tensor_intrin.{name}"
        if name != keep and full not in sys.modules:
            sys.modules[full] = types.ModuleType(full)


def _heaviest(tasks, flops_of, limit: int, share: float) -> list:
    """The tasks doing the most arithmetic (FLOPs times occurrences), as ``(cost, task)``:
    the fewest covering ``share`` of the total, at most ``limit``."""
    costs = []
    for task in tasks:
        try:
            flops = float(flops_of(task.dispatched[0]))
        except Exception:  # (kernels the estimator cannot read count as cheap)
            flops = 0.0
        costs.append((flops * task.weight, task))
    costs.sort(key=lambda c: -c[0])
    total = sum(c for c, _ in costs) or 1.0
    chosen, covered = [], 0.0
    for cost, task in costs:
        if len(chosen) >= limit or covered >= share * total or cost <= 0:
            break
        chosen.append((cost, task))
        covered += cost
    return chosen


def _budgets(costs, trials: int, least: int) -> list[int]:
    """``trials`` split in proportion to ``costs``, at least ``least`` each."""
    total = sum(costs) or 1.0
    budgets = [max(least, int(trials * c / total)) for c in costs]
    while sum(budgets) > trials and max(budgets) > least:
        budgets[budgets.index(max(budgets))] -= 1
    return budgets


def _index_path(root: Path) -> Path:
    return _tuning_dir(root) / "tuned.json"


def _record_tuned(root: Path, graph: Graph, target, batch_size: int) -> None:
    """Note in the cache that ``graph`` has a tuned library for ``batch_size``."""
    path = _index_path(root)
    index = json.loads(path.read_text()) if path.exists() else {}
    entry = index.setdefault(graph_key(graph, target), [])
    if batch_size not in entry:
        entry.append(int(batch_size))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, sort_keys=True))
    os.replace(tmp, path)


def tuned_batch_sizes(graph: Graph, target=None, cache_dir=None) -> list[int]:
    """The batch sizes :func:`tune` tuned ``graph`` for (their libraries are in the cache)."""
    root = cache_folder(cache_dir)
    if root is None or not _index_path(root).exists():
        return []
    try:
        index = json.loads(_index_path(root).read_text())
    except ValueError:
        return []
    return list(index.get(graph_key(graph, _as_target(target)), []))


def _has_xgboost() -> bool:
    try:
        import xgboost  # noqa: F401
    except ImportError:
        return False
    return True


# -------------------------------------------------------------------- tensors
def to_tensor(array, device):
    """A numpy array as a TVM tensor on ``device``: the array itself (DLPack, no copy) when
    it is a C-contiguous host array aligned as TVM requires (64 bytes), else a copy. (The
    VM never writes its inputs.)"""
    import tvm
    array = np.asarray(array, order="C")
    if device.dlpack_device_type() == 1 and array.ctypes.data % 64 == 0 and array.size and \
            array.dtype != np.bool_ and array.flags.c_contiguous:
        return tvm.runtime.from_dlpack(array)
    return tvm.runtime.tensor(array, device)


class _Slot:
    __slots__ = ("tensor", "owner", "base", "writes")

    def __init__(self, tensor):
        self.tensor = tensor
        self.owner = None  # a step executor that writes this key
        self.base = 0
        self.writes = 0


class TVMState:
    """Named state as TVM tensors on one device, with the interface of
    :class:`~graphkeras.runtime.state.DeviceState` that variables use (``set``, ``get``,
    ``value``, ``revision_of``, ``remove``). A key written by a training step is owned by
    that step's executor, which holds its current tensor."""

    def __init__(self, device: str = "cpu"):
        tvm = require_tvm()
        self.device = device
        self.dev = tvm.cuda(0) if device == "cuda" else tvm.cpu(0)
        self.slots: dict[str, _Slot] = {}
        self.version = 0
        self.revision = 0

    def __contains__(self, key):
        return key in self.slots

    def value(self, key: str):
        slot = self.slots[key]
        return slot.owner.current(key) if slot.owner is not None else slot.tensor

    def revision_of(self, key: str) -> int:
        slot = self.slots[key]
        return slot.writes + (slot.owner.steps - slot.base if slot.owner is not None else 0)

    def get(self, key: str) -> np.ndarray:
        return self.value(key).numpy()

    def set(self, key: str, array) -> None:
        import tvm
        tensor = tvm.runtime.tensor(np.array(array, order="C"), self.dev)  # (its own copy)
        self.revision += 1
        slot = self.slots.get(key)
        if slot is None:
            self.slots[key] = _Slot(tensor)
            self.version += 1
            return
        slot.writes += 1
        if slot.owner is not None:
            slot.owner.put(key, tensor)
        else:
            slot.tensor = tensor
        self.version += 1

    def remove(self, key: str) -> None:
        slot = self.slots.pop(key, None)
        if slot is not None:
            if slot.owner is not None:
                slot.owner.forget(key)
            self.version += 1
            self.revision += 1

    def own(self, keys, owner) -> None:
        for key in keys:
            slot = self.slots[key]
            if slot.owner is owner:
                continue
            tensor = self.value(key)
            if slot.owner is not None:
                slot.owner.release([key])
            slot.owner, slot.base = owner, owner.steps
            owner.put(key, tensor)
        self.version += 1

    def disown(self, keys, owner) -> None:
        for key in keys:
            slot = self.slots.get(key)
            if slot is None or slot.owner is not owner:
                continue
            slot.tensor = owner.current(key)
            slot.writes += owner.steps - slot.base
            slot.owner = None
        self.version += 1


_STATES: dict[str, TVMState] = {}


def device_state(target=None) -> TVMState:
    """The process-wide TVM state for ``target``'s device."""
    target = _as_target(target)
    device = "cuda" if target.kind.name == "cuda" else "cpu"
    state = _STATES.get(device)
    if state is None:
        state = _STATES[device] = TVMState(device)
    return state


# -------------------------------------------------------------------- executors
class _Modules:
    """The module to run for a batch of data: a tuned one specialized to its batch size when
    :func:`tune` made one, else the module for every batch size. A graph that loops over
    sequences of unknown length (TVM unrolls a ``scan`` over its number of steps) is built
    for each distinct shape of the data instead (every batch size still shares one), as XLA
    compiles a ``jit_compile`` function per shape."""

    def __init__(self, graph: Graph, target=None):
        self.graph = graph
        self.target = _as_target(target)
        self.per_shape = open_scan_lengths(graph)
        self.generic = None if self.per_shape else build_module(graph, self.target)
        self.tuned = set() if self.per_shape else set(tuned_batch_sizes(graph, self.target))
        self._functions = {}
        self.device = _device(self.target)
        self.n_outputs = len(graph.outputs)

    def function(self, arrays):
        """The packed function for this batch of data inputs."""
        if self.per_shape:
            key = tuple(np.shape(a) for a in arrays)
            key = tuple(s[1:] if v.shape and v.shape[0] is None else s
                        for s, v in zip(key, self.graph.inputs))
        else:
            key = _batch_of(arrays)
        fn = self._functions.get(key)
        if fn is None:
            if self.per_shape:
                shapes = [(None,) + s if v.shape and v.shape[0] is None else s
                          for s, v in zip(key, self.graph.inputs)]
                module = build_module(specialize(self.graph, shapes), self.target)
            elif key in self.tuned:
                module = build_module(self.graph, self.target, batch_size=key)
            else:
                module = self.generic
            fn = self._functions[key] = module.function()
        return fn


def _batch_of(arrays) -> int:
    for a in arrays:
        shape = np.shape(a)
        if shape:
            return int(shape[0])
    return -1


class TVMGraphExecutor:
    """A graph (predict) on TVM: data inputs from numpy, state inputs read from the
    resident state by reference; numpy outputs."""

    def __init__(self, graph: Graph, data_inputs: list[str], state_inputs: dict[str, str],
                 state: TVMState, target=None):
        self.module = _Modules(graph, target)
        self.state = state
        self.n_data = len(data_inputs)
        names = [v.name for v in graph.inputs]
        if names[:self.n_data] != list(data_inputs) or \
                set(names[self.n_data:]) != set(state_inputs):
            raise ValueError("TVMGraphExecutor: the graph's inputs must be the data inputs "
                             "followed by the state inputs.")
        self.keys = [state_inputs[n] for n in names[self.n_data:]]
        self._state_args = None
        self._seen = None

    def __call__(self, arrays) -> list[np.ndarray]:
        state = self.state
        if self._seen != (state.version, state.revision):
            self._state_args = [state.value(k) for k in self.keys]
            self._seen = (state.version, state.revision)
        dev = self.module.device
        fn = self.module.function(arrays)
        out = fn(*[to_tensor(a, dev) for a in arrays], *self._state_args)
        return [out[i].numpy() for i in range(self.module.n_outputs)]


class TVMStepExecutor:
    """A training (or test) step on TVM: reads state, returns new state, keeps logs.

    ``state_inputs`` maps graph input names to state keys; ``state_outputs`` maps output
    names (positions in ``output_names``) to the keys they write; ``log_outputs`` names the
    outputs kept as logs. The executor owns the keys it writes: it holds their current
    tensors in the argument list of the next call, so a step moves no state."""

    def __init__(self, graph: Graph, output_names: list[str], data_inputs: list[str],
                 state_inputs: dict[str, str], state_outputs: dict[str, str],
                 log_outputs: list[str], state: TVMState, target=None):
        self.module = _Modules(graph, target)
        self.state = state
        self.steps = 0
        names = [v.name for v in graph.inputs]
        self.n_data = len(data_inputs)
        if names[:self.n_data] != list(data_inputs):
            raise ValueError("TVMStepExecutor: the graph's first inputs must be the data inputs.")
        unknown = (set(state_inputs) - set(names)) | \
            ((set(state_outputs) | set(log_outputs)) - set(output_names))
        if unknown:
            raise ValueError(f"TVMStepExecutor: names {sorted(unknown)} are not inputs/outputs "
                             "of the step graph.")
        self.read_keys = [state_inputs[n] for n in names[self.n_data:]]
        position = {n: i for i, n in enumerate(output_names)}
        self.written = {key: position[name] for name, key in state_outputs.items()}
        self.log_index = [position[n] for n in log_outputs]
        self._slot_of = {key: self.n_data + i for i, key in enumerate(self.read_keys)}
        self._args = [None] * len(names)
        self._held: dict[str, object] = {}  # owned keys this step does not read
        self._feedback = [(self._slot_of[k], j) for k, j in self.written.items()
                          if k in self._slot_of]
        self._write_only = [(k, j) for k, j in self.written.items() if k not in self._slot_of]
        self._bound_version = None
        self._last = None

    # ownership (called by TVMState) ---------------------------------
    def current(self, key):
        pos = self._slot_of.get(key)
        return self._args[pos] if pos is not None and key not in self._held else self._held[key]

    def put(self, key, tensor):
        pos = self._slot_of.get(key)
        if pos is not None:
            self._args[pos] = tensor
            self._held.pop(key, None)
        else:
            self._held[key] = tensor

    def forget(self, key):
        self._held.pop(key, None)
        self._bound_version = None

    def release(self, keys):
        self.state.disown(keys, self)
        self._bound_version = None

    def close(self):
        self.state.disown(list(self.written), self)
        self._bound_version = None

    def _bind(self):
        state = self.state
        state.own(sorted(self.written), self)
        for key, pos in self._slot_of.items():
            if state.slots[key].owner is not self:
                self._args[pos] = state.value(key)
        self._bound_version = state.version

    def __call__(self, arrays) -> None:
        state = self.state
        if self._bound_version != state.version:
            self._bind()
        elif self._read_others_changed():
            self._refresh_others()
        args = self._args
        dev = self.module.device
        for i, a in enumerate(arrays):
            args[i] = to_tensor(a, dev)
        out = self.module.function(arrays)(*args)
        for pos, j in self._feedback:
            args[pos] = out[j]
        for key, j in self._write_only:
            self._held[key] = out[j]
        self._last = out
        self.steps += 1
        state.revision += 1
        self._seen_revision = state.revision

    def _read_others_changed(self):
        return getattr(self, "_seen_revision", None) != self.state.revision

    def _refresh_others(self):
        """Keys this step reads but another executor or the host wrote since."""
        state = self.state
        for key, pos in self._slot_of.items():
            if state.slots[key].owner is not self:
                self._args[pos] = state.value(key)

    def logs(self) -> list[np.ndarray]:
        """The last step's log outputs, copied to the host."""
        return [self._last[j].numpy() for j in self.log_index]
