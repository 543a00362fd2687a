"""``DataParallel``: synchronous data-parallel ``fit``/``evaluate``/``predict`` on Ray.

    strategy = gk.distribute.DataParallel(num_workers=2)      # a local Ray cluster
    with strategy.scope():
        model = make_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    model.fit(x, y, batch_size=256, epochs=3)                 # as usual

How a step runs (the driver is the process that called ``fit``):

1. the driver puts the state the gradient graph reads (weights, moving
   statistics, random counters) in the Ray object store, once per step;
2. each worker (a Ray actor, one process) runs the gradient graph
   (:mod:`graphkeras.distribute.graphs`) on its shard of the global batch: shard
   ``r`` of a batch of ``b`` samples holds ``b // N`` (+1 for ``r < b % N``)
   consecutive samples of the batch, so a short last batch is split too;
3. the driver all-reduces: gradients as the mean weighted by shard size
   (``sum_r n_r / b * g_r``: the gradient of the global batch's mean loss, as one
   process computes it), metric accumulators summed (the global state, from which
   the logs and ``History`` are computed), moving statistics averaged with the
   same weights;
4. the driver applies the optimizer-update graph once, on its resident state; the
   new weights go out with the next step's state (step 1).

So the driver always holds the whole training state after a step: callbacks run
on the driver only and see the current model (``ModelCheckpoint`` saves once), and
a worker holds nothing that is lost when it dies.

Data: numpy arrays are cast once and put in the object store once per call; a
step sends each worker only the row indices of its shard (a slice when the batch
is contiguous). Generators and ``Sequence`` objects are read by the driver and
each batch is scattered.

Dropout: worker ``r`` draws its masks from the layer's random counter plus
``r * 2**32`` (see :mod:`graphkeras.distribute.worker`): deterministic for a given
seed and number of workers, different per worker, and worker 0 draws the masks a
single process draws.

Faults: every wait on a worker has a timeout (``timeout``, seconds). A worker
that dies or stops answering makes the call raise :class:`WorkerError`, which names
the worker (rank, process id, host). With a ``BackupAndRestore`` callback, ``fit``
instead starts new workers, restores the last backup and resumes there (at most
``max_restarts`` times per ``fit``).
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time

import numpy as np

logger = logging.getLogger(__name__)

_STACK: list = []
_tokens = itertools.count()


def current_strategy():
    """The strategy whose ``scope()`` is active, or None."""
    return _STACK[-1] if _STACK else None


class WorkerError(RuntimeError):
    """A worker died or did not answer in time. ``rank``, ``pid`` and ``host`` name it."""

    def __init__(self, message, rank=None, pid=None, host=None):
        super().__init__(message)
        self.rank, self.pid, self.host = rank, pid, host


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("gk.distribute.DataParallel runs on Ray, which is not installed. Install "
                          "it with `pip install graphkeras[distributed]` (or `pip install "
                          "\"ray>=2.40,<3\"`).") from None
    return ray


class DataParallel:
    """Synchronous data parallelism over ``num_workers`` Ray worker processes.

    Args:
        num_workers: replicas (one process each). Default: one per CPU core of the
            local machine, or of the cluster when joining one.
        address: ``None`` starts a local Ray cluster (or uses the one this process
            already started); ``"auto"`` or ``"ray://host:port"`` joins a cluster
            (``ray://`` needs Ray's client extra, ``pip install "ray[client]"``).
        timeout: seconds any wait on a worker may take before the call raises
            :class:`WorkerError` (the first step of a graph includes its session's
            creation).
        max_restarts: how many times one ``fit`` with ``BackupAndRestore`` may replace
            lost workers and resume.
        threads_per_worker: ONNX Runtime threads (and Ray CPUs) per worker. Default:
            this machine's cores shared out (local), 1 (cluster).
        ray_init_kwargs: more arguments for ``ray.init``.

    Use ``with strategy.scope():`` around building and compiling the model; the
    compiled model then runs ``fit``, ``evaluate`` and ``predict`` on the workers
    (``train_on_batch`` and friends stay in the calling process).
    ``steps_per_execution`` and ``run_eagerly`` are ignored here: each global batch
    is one step, and the workers run the compiled graphs.
    """

    def __init__(self, num_workers=None, address=None, *, timeout=300.0, max_restarts=3,
                 threads_per_worker=None, ray_init_kwargs=None):
        ray = _import_ray()
        self._ray = ray
        self.address = address
        self.timeout = float(timeout)
        self.max_restarts = int(max_restarts)
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False,
                      "logging_level": logging.WARNING}
            if address is None:  # a new local cluster, even if another process runs one
                kwargs["address"] = "local"
                kwargs["num_cpus"] = max(os.cpu_count() or 1, int(num_workers or 0))
            else:
                kwargs["address"] = address
            kwargs.update(ray_init_kwargs or {})
            ray.init(**kwargs)
            self._owns_ray = True
        if num_workers is None:  # one per core of the cluster (this machine's, when local)
            num_workers = max(int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)), 1)
        if int(num_workers) < 1:
            raise ValueError(f"`num_workers` must be at least 1. Received: {num_workers}")
        self.num_workers = int(num_workers)
        if threads_per_worker is None:  # share this machine's cores; one each on a cluster
            threads_per_worker = max((os.cpu_count() or 1) // self.num_workers, 1) \
                if address is None else 1
        self.threads_per_worker = int(threads_per_worker)
        self._actors = []
        self._infos = []
        self._loaded = []  # per worker: graph ids it holds
        self._data = []  # per worker: data tokens it holds
        self._dead = set()  # ranks lost (replaced at the next call)
        self.stats = _Stats()

    # ---------------------------------------------------------------- tf.distribute API
    @contextlib.contextmanager
    def scope(self):
        """Models compiled in this block run ``fit``/``evaluate``/``predict`` here."""
        _STACK.append(self)
        try:
            yield self
        finally:
            _STACK.pop()

    @property
    def num_replicas_in_sync(self):
        return self.num_workers

    def __repr__(self):
        return f"<gk.distribute.DataParallel num_workers={self.num_workers}>"

    # ---------------------------------------------------------------- workers
    def workers(self) -> list[dict]:
        """``[{"rank", "pid", "node", "host"}]`` of the workers (started if needed)."""
        self._ensure_workers()
        return [dict(info) for info in self._infos]

    def _ensure_workers(self):
        """Start the workers, or replace the ones lost (the others keep their graphs
        and data: a worker holds no training state)."""
        if self._actors and not self._dead:
            return
        ray = self._ray
        if not ray.is_initialized():  # ray.remote would start a default cluster by itself
            raise RuntimeError("This DataParallel strategy was shut down (or Ray was): create a "
                               "new one to train on workers again.")
        if not self._actors:
            ranks = list(range(self.num_workers))
            self._actors = [None] * self.num_workers
            self._infos = [{"rank": r, "pid": None, "node": None, "host": None}
                           for r in ranks]
            self._loaded = [set() for _ in ranks]
            self._data = [set() for _ in ranks]
        else:
            ranks = sorted(self._dead)
            for r in ranks:
                _kill(ray, self._actors[r])
        self._dead = set()
        threads = self.threads_per_worker
        actor = ray.remote(num_cpus=threads, max_restarts=0, max_task_retries=0)(
            _replica_class(ray))
        for r in ranks:
            self._actors[r] = actor.remote(r, threads)
            self._loaded[r], self._data[r] = set(), set()
            self._infos[r] = {"rank": r, "pid": None, "node": None, "host": None}
        try:
            infos = self._gather([(r, self._actors[r].info.remote()) for r in ranks],
                                 "starting the workers")
        except WorkerError as err:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise WorkerError(f"{err} (The cluster has {cpus:g} CPUs for {self.num_workers} "
                              f"workers of {threads} CPU(s) each.)", err.rank, err.pid,
                              err.host) from None
        for r, info in zip(ranks, infos):
            self._infos[r] = info

    def _stop_workers(self):
        for a in self._actors:
            _kill(self._ray, a)
        self._actors, self._loaded, self._data, self._dead = [], [], [], set()

    def restart_workers(self):
        """Replace every worker by a fresh process (graphs and data are sent again)."""
        self._stop_workers()
        self._ensure_workers()

    def shutdown(self):
        """Stop the workers, and the local Ray cluster if this strategy started it."""
        self._stop_workers()
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False

    def _describe(self, rank):
        info = self._infos[rank] if rank < len(self._infos) else {}
        return (f"worker {rank} (pid {info.get('pid') or '?'} on "
                f"{info.get('host') or info.get('node') or '?'})")

    def _gather(self, calls, what):
        """Results of ``[(rank, object_ref)]``, in that order. A dead or silent
        worker raises :class:`WorkerError` naming it (never waits past ``timeout``);
        an exception inside a worker is raised as itself."""
        ray = self._ray
        from ray import exceptions as rex
        refs = [ref for _, ref in calls]
        try:
            return ray.get(refs, timeout=self.timeout)  # the common case: one call
        except (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError,
                rex.ObjectLostError, rex.GetTimeoutError, rex.RayTaskError):
            pass
        # something failed: find out which worker, and how
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=0)
        ready = set(ready)
        for rank, ref in calls:
            if ref not in ready:
                continue
            try:
                ray.get(ref, timeout=0)
            except (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError,
                    rex.ObjectLostError, rex.GetTimeoutError) as err:
                self._dead.add(rank)
                info = self._infos[rank]
                text = str(err).strip()
                cause = text.splitlines()[0] if text else type(err).__name__
                raise WorkerError(f"DataParallel {self._describe(rank)} died while {what} "
                                  f"({type(err).__name__}: {cause}). Add a BackupAndRestore "
                                  "callback to let fit restart the workers and resume.",
                                  rank, info.get("pid"), info.get("host")) from None
            except rex.RayTaskError as err:
                raise err.as_instanceof_cause() from None
        ranks = [rank for rank, ref in calls if ref not in ready]
        self._dead.update(ranks)
        names = ", ".join(self._describe(r) for r in ranks)
        info = self._infos[ranks[0]]
        raise WorkerError(f"DataParallel {names} did not answer within {self.timeout:g} s while "
                          f"{what}; the call was abandoned and the worker is replaced at the "
                          "next call.", ranks[0], info.get("pid"), info.get("host"))

    def _load_graph(self, graph, ranks):
        missing = [r for r in ranks if graph.gid not in self._loaded[r]]
        if not missing:
            return
        plan = graph.plan()
        ref = self._ray.put(graph.model_bytes)
        self._gather([(r, self._actors[r].load_graph.remote(graph.gid, ref, plan))
                      for r in missing], "loading a graph")
        for r in missing:
            self._loaded[r].add(graph.gid)

    def _load_data(self, dataset, ranks):
        missing = [r for r in ranks if dataset.token not in self._data[r]]
        if not missing:
            return
        self._gather([(r, self._actors[r].load_data.remote(dataset.token, [dataset.ref]))
                      for r in missing], "loading the data")
        for r in missing:
            self._data[r].add(dataset.token)

    def _put_data(self, arrays):
        return _Dataset(self, arrays)

    # ---------------------------------------------------------------- one step
    def _run(self, graph, batch, state_ref, what):
        """Run ``graph`` on every worker's shard of ``batch``; returns
        ``[(n_samples, outputs)]`` of the workers that had samples, in rank order."""
        self._ensure_workers()
        shards = batch.shards(self.num_workers)
        ranks = [r for r, (n, _) in enumerate(shards) if n > 0]
        self._load_graph(graph, ranks)
        if batch.dataset is not None:
            self._load_data(batch.dataset, ranks)
        start = time.perf_counter()
        results = self._gather([(r, self._actors[r].run.remote(graph.gid, shards[r][1], state_ref))
                                for r in ranks], what)
        self.stats.gather += time.perf_counter() - start
        self.stats.compute += max(seconds for _, _, seconds in results)
        return [(n, outs) for n, outs, _ in results]

    def _run_train(self, gradient, update, batch, model):
        """One data-parallel training step; returns the logs."""
        stats = self.stats
        start = time.perf_counter()
        state_ref = self._ray.put([np.asarray(v.numpy()) for v in gradient.sent])
        stats.put += time.perf_counter() - start
        results = self._run(gradient, batch, state_ref, "computing gradients")
        start = time.perf_counter()
        weights = _shard_weights(results)
        grads = [_weighted_sum(results, i, weights) for i in gradient.indices("grad")]
        _apply_state(gradient, results, weights)
        stats.reduce += time.perf_counter() - start
        start = time.perf_counter()
        if update is not None:
            update(grads)
        stats.update += time.perf_counter() - start
        stats.steps += 1
        stats.samples += sum(n for n, _ in results)
        return _logs(model, gradient, results, weights)

    def _run_stateful(self, graph, batch, state_ref, model):
        """One test step: metric state summed into the driver's, logs from it."""
        results = self._run(graph, batch, state_ref, "evaluating")
        weights = _shard_weights(results)
        _apply_state(graph, results, weights)
        return _logs(model, graph, results, weights)

    def _run_predict(self, graph, batch, state_ref):
        results = self._run(graph, batch, state_ref, "predicting")
        n_out = len(graph.outputs)
        return [np.concatenate([outs[i] for _, outs in results], axis=0) for i in range(n_out)]


def _kill(ray, actor):
    if actor is not None:
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _replica_class(ray):
    """The worker's class, pickled by value: a worker process needs numpy,
    onnxruntime and Ray, not graphkeras (quicker to start, and cluster nodes need
    not have graphkeras installed)."""
    from graphkeras.distribute import worker
    ray.cloudpickle.register_pickle_by_value(worker)
    return worker.Replica


class _Stats:
    """Seconds the driver spent per part of the training steps (for benchmarks)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.steps = 0
        self.samples = 0
        self.put = 0.0  # state (weights) into the object store
        self.gather = 0.0  # dispatch, worker compute, results back
        self.compute = 0.0  # the slowest worker's graph run, per call
        self.reduce = 0.0  # weighted gradient mean, state reduction
        self.update = 0.0  # the optimizer-update graph

    def as_dict(self):
        return dict(vars(self))


class _Dataset:
    """Arrays in the Ray object store, put once; workers keep them by ``token``."""

    def __init__(self, strategy, arrays):
        self.strategy = strategy
        self.token = f"d{next(_tokens)}-{os.getpid()}"
        self.arrays = arrays
        self.ref = strategy._ray.put(list(arrays))

    def close(self):
        strategy = self.strategy
        for r, a in enumerate(strategy._actors):
            if r < len(strategy._data) and self.token in strategy._data[r]:
                strategy._data[r].discard(self.token)
                try:
                    a.drop_data.remote(self.token)
                except Exception:  # noqa: BLE001 - a dead worker holds nothing
                    pass
        self.ref = None


def _split(n, k):
    """Sizes and offsets of ``k`` shards of ``n`` samples (the first ``n % k`` one larger)."""
    sizes = [n // k + (1 if r < n % k else 0) for r in range(k)]
    offsets = np.cumsum([0] + sizes[:-1]).tolist()
    return list(zip(offsets, sizes))


class IndexBatch:
    """Rows ``index`` of a stored dataset."""

    def __init__(self, dataset, index):
        self.dataset = dataset
        self.index = np.asarray(index)
        self.n = len(self.index)
        lo = int(self.index[0]) if self.n else 0
        self.contiguous = self.n == 0 or bool(np.all(np.diff(self.index) == 1))
        self.lo = lo

    def shards(self, k):
        out = []
        for offset, size in _split(self.n, k):
            if self.contiguous:
                payload = ("slice", self.dataset.token, self.lo + offset, self.lo + offset + size)
            else:
                payload = ("take", self.dataset.token, self.index[offset:offset + size])
            out.append((size, payload))
        return out


class ArrayBatch:
    """A batch the driver read (from a generator), scattered by value."""

    dataset = None

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.n = int(self.arrays[0].shape[0]) if self.arrays else 0

    def shards(self, k):
        return [(size, ("arrays", [a[offset:offset + size] for a in self.arrays]))
                for offset, size in _split(self.n, k)]


def _shard_weights(results):
    total = sum(n for n, _ in results)
    return [np.float32(n / total) for n, _ in results]


def _weighted_sum(results, i, weights):
    if len(results) == 1:
        return np.ascontiguousarray(results[0][1][i])
    acc = results[0][1][i] * weights[0]
    for (_, outs), w in zip(results[1:], weights[1:]):
        acc += outs[i] * w
    return acc


def _apply_state(graph, results, weights):
    """The state a graph wrote, reduced over the workers, into the driver's variables."""
    for i, (_, kind, var) in enumerate(graph.outputs):
        if kind == "sum":
            total = np.array(var.numpy(), copy=True)
            for _, outs in results:
                total = total + outs[i]
            var.assign(total)
        elif kind == "mean":
            var.assign(_weighted_sum(results, i, weights))
        elif kind in ("first", "rng"):
            var.assign(results[0][1][i])


def _logs(model, graph, results, weights):
    """Logs of a step: metric results from the reduced (global) metric state; other
    logs (a ``train_step`` override's own values) as the shard-weighted mean."""
    by_name = {m.name: m for m in model.metrics}
    logs = {}
    for j, name in zip(graph.indices("log"), graph.log_names):
        metric = by_name.get(name)
        if metric is not None:
            value = metric.result()
        else:
            value = _weighted_sum(results, j, weights)
        logs[name] = _scalar(value)
    return logs


def _scalar(value):
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    value = np.array(value)
    return float(value) if value.size == 1 else value
