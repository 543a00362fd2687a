"""``DataParallel``: synchronous data-parallel ``fit``/``evaluate``/``predict`` on Ray.

    strategy = gk.distribute.DataParallel(num_workers=2)      # a local Ray cluster
    with strategy.scope():
        model = make_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    model.fit(x, y, batch_size=256, epochs=3)                 # as usual

The driver is the process that called ``fit``. Every worker (a Ray actor, one
process) keeps the whole training state resident — weights, optimizer slots and
iterations, learning rate, moving statistics, random counters — and every worker
applies the same optimizer-update graph, so the replicas stay bit-identical and
no weights travel per step. How a step runs:

1. if the driver's copy of some state changed since the workers got it (the
   first step of a ``fit``, a callback set weights or the learning rate, a
   restore, a new worker), the driver puts those variables in the Ray object
   store (once, shared by the workers) and each worker takes them. A revision per
   variable tells what changed; nothing is sent otherwise;
2. each worker runs the gradient graph (:mod:`graphkeras.distribute.graphs`) on
   its shard of the global batch: shard ``r`` of a batch of ``b`` samples holds
   ``b // N`` (+1 for ``r < b % N``) consecutive samples, so a short last batch is
   split too. It multiplies its gradients and new moving statistics by its shard
   weight ``n_r / b``, flattens them into one vector and splits it in ``N`` chunks;
3. all-reduce through the object store: worker ``r`` sums chunk ``r`` of every
   worker in rank order (reduce-scatter), then every worker fetches the ``N``
   reduced chunks (all-gather). That is ``sum_r n_r / b * g_r``, the gradient of
   the global batch's mean loss as one process computes it, with the same
   summation order, hence the same bits, on every worker. Each worker moves
   ``2 (N-1) / N`` times the vector's bytes;
4. every worker sets the averaged moving statistics (and worker 0's random
   counters) and runs the update graph on its resident state.

The driver submits the three calls of every worker at once (Ray resolves the
chunks between them, the driver never holds them) and waits only for the small
results: per worker its sample count, its logs and metric contributions. The
reduce and update calls are confirmed with the next step's results (a worker runs
its calls in order), so the driver dispatches step ``k + 1`` while the workers
finish step ``k``. With one worker, a step is one call (gradients then update).
Metric
accumulators are summed into the driver's metric state (the global state, from
which the logs and ``History`` are computed, per batch too); a log that is no
metric is the shard-weighted mean.

The driver's model is brought up to date — the trained state read back from
worker 0 into its variables — after the last step of each epoch (before
validation and ``on_epoch_end``), at the end of ``fit`` (also when it stops on
an exception other than a lost worker), and after every step when a callback has
batch-level hooks that may look at the model (any callback whose
``on_(train_)batch_begin/end`` is overridden, except graphkeras' own ``History``,
``ProgbarLogger`` and ``TerminateOnNaN``, which read the logs only;
``ModelCheckpoint`` and ``BackupAndRestore`` only with an integer ``save_freq``).
So callbacks run on the driver only and see the current model,
``ModelCheckpoint`` saves once, and ``evaluate``/``predict``/``save`` after ``fit``
see the trained weights. In between (mid-epoch, without such callbacks)
the driver's variables hold the state of the last synchronization.

``evaluate`` and ``predict`` send the driver's weights with the first batch (one
object in the store) and run stateless graphs on the workers.

Data: numpy arrays are cast once and put in the object store once per call; a
step sends each worker only the row indices of its shard (a slice when the batch
is contiguous). Generators and ``Sequence`` objects are read by the driver and
each batch is scattered.

Dropout: worker ``r`` draws its masks from the layer's random counter plus
``r * 2**32`` (see :mod:`graphkeras.distribute.worker`): deterministic for a given
seed and number of workers, different per worker, and worker 0 draws the masks a
single process draws; every worker keeps worker 0's counter.

Faults: every wait on a worker has a timeout (``timeout``, seconds). A worker
that dies or stops answering makes the call raise :class:`WorkerError`, which names
the worker (rank, process id, host). The workers' resident state is then
dropped: the next call sends the driver's state again (a ``fit`` stopped that way
leaves the model with the state of the last synchronization). With a
``BackupAndRestore`` callback, ``fit`` instead starts new workers, restores the
last backup and resumes there (at most ``max_restarts`` times per ``fit``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import weakref

import numpy as np

from graphkeras.distribute.data import Dataset
from graphkeras.distribute.reduce import apply_state, shard_weights, step_logs

logger = logging.getLogger(__name__)

_STACK: list = []


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
        # resident training state: per worker, Variable.key -> the revision of the
        # driver's variable the worker's value came from (see _token)
        self._held: list[dict] = []
        self._ahead: set = set()  # keys the workers changed since the driver read them
        self._pending: list = []  # the last step's reduce and update calls, unconfirmed
        self._vars = weakref.WeakValueDictionary()  # key -> Variable, of the programs run
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
        and data; the training state is sent again to every worker, see
        :meth:`_drop_state`)."""
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
            self._held = [{} for _ in ranks]
            self._ahead = set()
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
            self._loaded[r], self._data[r], self._held[r] = set(), set(), {}
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
        self._held, self._ahead, self._pending = [], set(), []

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
        """Results of ``[(rank, object_ref)]`` or ``[(rank, object_ref, phase)]``, in
        that order. A dead or silent worker raises :class:`WorkerError` naming it
        (never waits past ``timeout``); an exception inside a worker is raised as
        itself. ``phase`` orders chained calls (a later call waits on the earlier
        ones): a failure or a silence is blamed on the earliest phase's worker."""
        ray = self._ray
        from ray import exceptions as rex
        calls = [(c[0], c[1], c[2] if len(c) > 2 else 0) for c in calls]
        refs = [ref for _, ref, _ in calls]
        try:
            return ray.get(refs, timeout=self.timeout)  # the common case: one call
        except (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError,
                rex.ObjectLostError, rex.GetTimeoutError, rex.RayTaskError):
            pass
        # something failed: find out which worker, and how. The workers' resident
        # state may now differ (a step half done): the next call sends it again.
        self._drop_state()
        died = (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError,
                rex.ObjectLostError, rex.GetTimeoutError)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        ready = set(ready)
        by_actor = {}
        for r, a in enumerate(self._actors):
            try:
                by_actor[a._actor_id.hex()] = r
            except Exception:  # noqa: BLE001 - a replaced or missing handle
                pass
        for rank, ref, _ in sorted(calls, key=lambda c: c[2]):
            if ref not in ready:
                continue
            try:
                ray.get(ref, timeout=0)
            except died as err:
                actor = getattr(err, "actor_id", None)
                if isinstance(actor, bytes):
                    actor = actor.hex()
                rank = by_actor.get(actor, rank)  # a call that waited on a lost worker
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
        first = min(phase for _, ref, phase in calls if ref not in ready)
        ranks = sorted({rank for rank, ref, phase in calls if ref not in ready and phase == first})
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
        return Dataset(self, arrays)

    # ---------------------------------------------------------------- one step
    def _run(self, graph, batch, state_ref, what):
        """Run ``graph`` on every worker's shard of ``batch``; returns
        ``[(n_samples, outputs)]`` of the workers that had samples, in rank order."""
        self._confirm()
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

    # ---------------------------------------------------------------- resident state
    def _drop_state(self):
        """Forget what the workers hold: the next step sends the driver's state to
        every worker (after a lost worker, whose step may be half done)."""
        self._held = [{} for _ in self._actors]
        self._ahead = set()
        self._pending = []

    def _send_state(self, variables):
        """Calls giving each worker the variables whose driver copy it lacks or that
        changed on the driver since (one object in the store for all of them);
        ``[(rank, ref)]``, not waited for."""
        tokens = {}
        for var in variables:
            tokens[var.key] = _token(var)
            self._vars[var.key] = var
        need = [[k for k, t in tokens.items() if not _same(held.get(k), t)]
                for held in self._held]
        union = set().union(*need)
        if not union:
            return []
        stats = self.stats
        start = time.perf_counter()
        by_key = {var.key: var for var in variables}
        values = {k: np.asarray(by_key[k].numpy()) for k in union}
        ref = self._ray.put(values)
        stats.sends += 1
        stats.sent_bytes += sum(v.nbytes for v in values.values())
        calls = [(r, self._actors[r].set_state.remote(keys, ref))
                 for r, keys in enumerate(need) if keys]
        for r, held in enumerate(self._held):  # the state of variables gone (older models)
            gone = [k for k in held if k not in self._vars]
            if gone:
                self._actors[r].drop_state.remote(gone)
                for k in gone:
                    del held[k]
        for r, keys in enumerate(need):
            for k in keys:
                self._held[r][k] = tokens[k]
        self._ahead -= union  # the driver's values are now the workers' too
        stats.put += time.perf_counter() - start
        return calls

    def _sync_state(self):
        """Read the state the steps changed back from worker 0 into the driver's
        variables (nothing to do when the driver is up to date)."""
        self._confirm()
        if not self._ahead or not self._actors:
            return
        keys = [k for k in self._ahead if k in self._vars and k in self._held[0]]
        self._ahead = set()
        if not keys:
            return
        stats = self.stats
        start = time.perf_counter()
        values = self._gather([(0, self._actors[0].get_state.remote(keys))],
                              "reading the trained state")[0]
        for key, value in zip(keys, values):
            var = self._vars.get(key)
            if var is None or not _same(self._held[0].get(key), _token(var)):
                continue  # gone, or set on the driver since: the driver's value wins
            before = self._held[0][key]
            var.assign(value)
            token = _token(var)
            for held in self._held:
                if _same(held.get(key), before):
                    held[key] = token
            stats.fetched_bytes += value.nbytes
        stats.fetches += 1
        stats.fetch += time.perf_counter() - start

    def _run_train(self, program, batch, model):
        """One data-parallel training step; returns the logs.

        The driver waits for the gradient calls' small results (logs, metric
        contributions) only: the reduce and update calls of the step are confirmed
        with the next step's results (or by :meth:`_confirm`), so the driver submits
        the next step while the workers still reduce and update (a worker runs its
        calls in submission order). The driver's model is not updated: see
        :meth:`_sync_state`."""
        self._ensure_workers()
        stats = self.stats
        gradient, update = program.gradient, program.update
        n_workers = self.num_workers
        ranks = list(range(n_workers))
        shards = batch.shards(n_workers)
        active = [r for r, (n, _) in enumerate(shards) if n > 0]
        self._load_graph(gradient, ranks)  # every worker reads its plan in `apply`
        if update is not None:
            self._load_graph(update, ranks)
        if batch.dataset is not None:
            self._load_data(batch.dataset, active)
        sends = self._send_state(program.variables)
        start = time.perf_counter()
        total = sum(shards[r][0] for r in active)
        actors = self._actors
        uid = update.gid if update is not None else None
        later = []
        if n_workers == 1:  # nothing to reduce: one call runs both graphs
            current = [(0, actors[0].step.remote(gradient.gid, uid, shards[0][1]), 1)]
        else:
            several = len(active) > 1
            returns = n_workers if several else n_workers + 1  # the own chunk stays there
            outs = {r: actors[r].grads.options(num_returns=returns).remote(
                gradient.gid, shards[r][1], shards[r][0] / total, n_workers,
                r if several else None) for r in active}
            if several:  # reduce-scatter: worker r sums chunk r of every worker
                def chunk(a, r):  # worker a's chunk r (a keeps its chunk a)
                    return outs[a][r if r < a else r - 1]
                reduced = [actors[r].reduce.options(num_returns=2).remote(
                    active.index(r) if r in active else None,
                    *[chunk(a, r) for a in active if a != r]) for r in ranks]
                later = [(r, reduced[r][1], 2) for r in ranks]
                # all-gather and update: every worker gets the others' reduced chunks
                applied = [actors[r].apply.remote(
                    gradient.gid, uid, outs[active[0]][-1],
                    *[None if q == r else reduced[q][0] for q in ranks]) for r in ranks]
            else:  # one worker had samples: its (unweighted) vector is the result
                chunks = outs[active[0]][:n_workers]
                applied = [actors[r].apply.remote(gradient.gid, uid, outs[active[0]][-1],
                                                  *chunks) for r in ranks]
            later += [(r, ref, 3) for r, ref in zip(ranks, applied)]
            current = [(r, outs[r][-1], 1) for r in active]
        pending = [(r, ref, phase - 10) for r, ref, phase in self._pending]
        calls = pending + [(r, ref, 0) for r, ref in sends] + current
        self._pending = []
        got = self._gather(calls, "training")
        self._pending = later
        stats.gather += time.perf_counter() - start
        self._ahead.update(program.written)
        self._account(pending, got[:len(pending)])
        aux = got[len(calls) - len(current):]
        if n_workers == 1:
            aux, seconds = aux[0]
            aux = [aux]
            stats.update += seconds
        results = [(n, values) for n, _, values in aux]
        stats.compute += max(seconds for _, seconds, _ in aux)
        stats.steps += 1
        stats.samples += total
        weights = shard_weights(results)
        for i, (_, kind, var) in enumerate(gradient.outputs):
            if kind == "sum":  # metric accumulators: the global state on the driver
                value = np.array(var.numpy(), copy=True)
                for _, values in results:
                    value = value + values[i]
                var.assign(value)
        return step_logs(model, gradient, results, weights)

    def _account(self, calls, got):
        """Timings of confirmed reduce (phase 2) and update (phase 3) calls."""
        phases = [phase % 10 for _, _, phase in calls]
        self.stats.reduce += max((g for p, g in zip(phases, got) if p == 2), default=0.0)
        self.stats.update += max((g for p, g in zip(phases, got) if p == 3), default=0.0)

    def _confirm(self):
        """Wait for the last training step's reduce and update calls."""
        if self._pending:
            pending, self._pending = self._pending, []
            start = time.perf_counter()
            self._account(pending, self._gather(pending, "training"))
            self.stats.gather += time.perf_counter() - start

    def _run_stateful(self, graph, batch, state_ref, model):
        """One test step: metric state summed into the driver's, logs from it."""
        results = self._run(graph, batch, state_ref, "evaluating")
        weights = shard_weights(results)
        apply_state(graph, results, weights)
        return step_logs(model, graph, results, weights)

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
    """What the training steps cost, summed over steps (for benchmarks and tests)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.steps = 0
        self.samples = 0
        self.sends = 0  # times the driver sent training state to the workers
        self.sent_bytes = 0  # bytes of it (put in the object store once per send)
        self.put = 0.0  # seconds putting it
        self.fetches = 0  # times the driver read the trained state back (worker 0)
        self.fetched_bytes = 0
        self.fetch = 0.0  # seconds reading it back
        self.gather = 0.0  # seconds from submitting a step's calls to their results
        self.compute = 0.0  # the slowest worker's gradient-graph run
        self.reduce = 0.0  # the slowest worker's chunk sum (reduce-scatter)
        self.update = 0.0  # the slowest worker's update-graph run

    def as_dict(self):
        return dict(vars(self))


def _token(var):
    """The revision of a variable's driver value: ``(device state, revision)`` once
    compiled code placed it, else ``(None, host array)`` (``assign`` replaces the
    array; the token keeps it alive, so its identity is not reused)."""
    device = var._device
    if device is not None and var.key in device:
        return device, device.revision_of(var.key)
    return None, var._host


def _same(a, b):
    if a is None or b is None or a[0] is not b[0]:
        return False
    return a[1] is b[1] if a[0] is None else a[1] == b[1]
